"""Time left in the invocation, so waits and retries never outlive the Lambda."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """Seconds remaining, as reported by the Lambda context (or a fake clock in tests)."""

    remaining_seconds: Callable[[], float]
    # Kept in reserve for reporting, the state writes and returning the partial batch response.
    reserve_seconds: float = 5.0

    def usable_seconds(self) -> float:
        return self.remaining_seconds() - self.reserve_seconds

    def allows(self, seconds: float) -> bool:
        return self.usable_seconds() >= seconds

    @classmethod
    def from_lambda_context(cls, context: object, reserve_seconds: float = 5.0) -> Deadline:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if callable(getter):
            return cls(lambda: float(getter()) / 1000.0, reserve_seconds)
        return cls.after(900.0, reserve_seconds)

    @classmethod
    def after(cls, seconds: float, reserve_seconds: float = 5.0) -> Deadline:
        end = time.monotonic() + seconds
        return cls(lambda: end - time.monotonic(), reserve_seconds)

"""When to retry a Pinterest call and how long to wait: a pure policy, so it is tested without HTTP."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. Rate-limit waits honour Pinterest's headers but never exceed ``max_rate_limit_wait``."""

    max_attempts: int = 4
    base_backoff: float = 0.5
    max_backoff: float = 8.0
    max_rate_limit_wait: float = 30.0
    jitter_ratio: float = 0.1

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for 5xx and connection errors (``attempt`` starts at 1)."""
        ceiling = min(self.max_backoff, self.base_backoff * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)

    def rate_limit_wait(self, headers: Mapping[str, str], attempt: int, rng: random.Random) -> float:
        """Wait for a 429: ``Retry-After``, else ``X-RateLimit-Reset`` (seconds), else backoff; capped, jittered."""
        hinted = _seconds(headers.get("Retry-After")) or _seconds(headers.get("X-RateLimit-Reset"))
        base = hinted if hinted is not None else max(1.0, self.backoff(attempt, rng))
        capped = min(base, self.max_rate_limit_wait)
        return capped + rng.uniform(0, capped * self.jitter_ratio)


def _seconds(value: str | None) -> float | None:
    """Header seconds as a float; HTTP-date forms of Retry-After are not used by Pinterest and are ignored."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds > 0 else None

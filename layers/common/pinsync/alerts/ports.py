"""The ports of the alert flow: where open alerts are remembered, and where alerts are sent. Implemented in
``pinsync.adapters`` (``dynamo_alerts``, ``sns``, ``webhook``) and faked in ``tests/fakes``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pinsync.alerts.model import OpenAlert, RedriveCounts, RenderedAlert


class AlertState(Protocol):
    def try_open(self, alert: OpenAlert, now: datetime) -> bool:
        """Record the alert as sent; False when the same key is still inside its suppression window (atomic)."""
        ...

    def reopen_window(self, key: str) -> None:
        """Undo :meth:`try_open` when the alert could not be published, so that a retried event sends it."""
        ...

    def get(self, key: str) -> OpenAlert | None: ...

    def clear(self, key: str) -> OpenAlert | None:
        """Close the open alert (it recovered); return what was open, or None if nothing was."""
        ...

    def restore(self, alert: OpenAlert) -> None:
        """Undo :meth:`clear` when the recovery could not be published, so that a retried event sends it; a no-op
        when the key was opened again meanwhile."""
        ...


class Notifier(Protocol):
    def publish(self, alert: RenderedAlert) -> str:
        """Send the alert; return the message id. Errors propagate (the event is retried)."""
        ...


class WebhookPoster(Protocol):
    def post(self, alert: RenderedAlert) -> bool:
        """Best effort: False (logged and counted) when it could not be delivered; never raises."""
        ...


class DeadLetters(Protocol):
    def redrive(self, time_left: Callable[[], float]) -> RedriveCounts:
        """Move the dead-lettered messages that can succeed back to the audience queue, leaving the poison ones,
        while ``time_left()`` seconds allow. AWS errors propagate."""
        ...

"""What a rotation step reports: the ``Token Rotation`` event (outcome, expiry instants, and for a failure its reason
and whether a person must reconnect) and the days left of the token in use. Never a token; the failure's text only
in ``message``, which alerts do not read."""

from __future__ import annotations

from datetime import datetime

from pinsync.core.errors import PinsyncError
from pinsync.events import Destination, RotationFailure, TokenExpiry, TokenRotation
from pinsync.rotation.model import Expiry, RotationError, RotationStep
from pinsync.tokens import days_between


def step_report(
    destination: Destination, step: RotationStep, *, changed: bool, current: Expiry | None, pending: Expiry | None
) -> TokenRotation:
    """A step that ran to its end: ``succeeded`` when it changed something, ``skipped`` when there was nothing to do."""
    outcome = "succeeded" if changed else "skipped"
    return TokenRotation(
        destination=destination,
        step=step.value,
        outcome=outcome,
        rotated=step is RotationStep.FINISH and changed,
        current=token_expiry(current),
        pending=token_expiry(pending),
    )


def failure_report(
    destination: Destination, step: RotationStep, error: PinsyncError, *, current: Expiry | None
) -> TokenRotation:
    """A failed step: the error's reason (``rotation_failed`` for an error that is not a rotation outcome) and whether
    it needs a person (:attr:`RotationError.needs_reconnect`)."""
    reason = error.reason if isinstance(error, RotationError) else RotationFailure.ROTATION_FAILED
    return TokenRotation(
        destination=destination,
        step=step.value,
        outcome="failed",
        rotated=False,
        current=token_expiry(current),
        pending=None,
        reason=reason,
        needs_reconnect=needs_reconnect(error),
        message=str(error),
    )


def needs_reconnect(error: PinsyncError) -> bool:
    return isinstance(error, RotationError) and error.needs_reconnect


def days_left(expiry: Expiry | None, now: datetime) -> tuple[float, float]:
    """(access, refresh) days left of the token in use; 0 when not connected (so the alarms fire: nothing can sync)."""
    if expiry is None:
        return 0.0, 0.0
    access = days_between(now, expiry.access_token_expires_at)
    refresh = days_between(now, expiry.refresh_token_expires_at)
    return max(access, 0.0), max(refresh, 0.0)


def token_expiry(expiry: Expiry | None) -> TokenExpiry | None:
    if expiry is None:
        return None
    return TokenExpiry(
        access_token_expires_at=expiry.access_token_expires_at,
        refresh_token_expires_at=expiry.refresh_token_expires_at,
    )

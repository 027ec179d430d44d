"""Composition root of the token rotation function: settings, clients and the per-run report.

Two kinds of invocation:

- a Secrets Manager rotation step ``{"Step", "SecretId", "ClientRequestToken", "RotationToken"?}``;
- a scheduled expiry check ``{"Check": "TokenExpiry", "SecretId"}`` (twice a day, from the template), which only
  reports. Rotation runs weekly, so without it the daily expiry alarms would see missing data most days.

Every run emits ``AccessTokenDaysLeft`` / ``RefreshTokenDaysLeft`` for the token in use (AWSCURRENT; 0 when the
secret is not connected) and, for rotation steps, one ``Token Rotation`` event with the outcome and expiry
instants. Neither the event nor the logs ever carry a token, and the incoming event is never logged as is (its
``RotationToken`` is sensitive).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import boto3
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from pinsync.adapters.events import EventBridgeReporter
from pinsync.adapters.oauth import PinterestAccountCheck, PinterestOAuthClient
from pinsync.adapters.secret_versions import SecretsManagerVersions
from pinsync.config import PinterestAccess, load_settings
from pinsync.deadline import Deadline
from pinsync.errors import PinsyncError
from pinsync.observability import MetricUnit, logger, metrics, quiet_sdk_loggers
from pinsync.ports import RunReporter
from pinsync.rotation import Expiry, RotationError, RotationStep, TokenRotation
from pinsync.tokens import days_between

TOKEN_ROTATION = "Token Rotation"  # noqa: S105 - a name, not a credential
ACCESS_TOKEN_DAYS_LEFT = "AccessTokenDaysLeft"  # noqa: S105 - a name, not a credential
REFRESH_TOKEN_DAYS_LEFT = "RefreshTokenDaysLeft"  # noqa: S105 - a name, not a credential
TOKEN_ROTATION_FAILURES = "TokenRotationFailures"  # noqa: S105 - a name, not a credential


class RotationSettings(PinterestAccess):
    """The rotation function's environment. The secret comes from the event, not from a variable."""

    event_bus_name: str = Field(default="default", min_length=1)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)


class RotationEvent(BaseModel):
    """What Secrets Manager sends. ``RotationToken`` is sensitive (cross-account identity check)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    step: RotationStep = Field(alias="Step")
    secret_id: str = Field(alias="SecretId", min_length=1)
    client_request_token: str = Field(alias="ClientRequestToken", min_length=1)
    rotation_token: SecretStr | None = Field(default=None, alias="RotationToken")


class ExpiryCheckEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    check: Literal["TokenExpiry"] = Field(alias="Check")
    secret_id: str = Field(alias="SecretId", min_length=1)


class InvalidEventError(PinsyncError):
    """The invocation payload is neither a rotation step nor an expiry check."""


def parse_event(event: Any) -> RotationEvent | ExpiryCheckEvent:
    """Validate the payload; the error names fields only (the payload may hold a RotationToken)."""
    model: type[RotationEvent] | type[ExpiryCheckEvent] = (
        ExpiryCheckEvent if isinstance(event, dict) and "Check" in event else RotationEvent
    )
    try:
        return model.model_validate(event)
    except ValidationError as error:
        fields = sorted({str(item["loc"][0]) for item in error.errors(include_input=False) if item["loc"]})
        raise InvalidEventError(
            f"not a rotation event (problem fields: {', '.join(fields) or 'whole event'})"
        ) from None


@dataclass
class RotationRuntime:
    """Built once per cold start. ``sleep`` (backoff waits) and ``clock`` are replaceable in tests."""

    settings: RotationSettings
    session: requests.Session
    secrets_client: Any
    reporter: RunReporter
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        parsed = parse_event(event)
        rotation = self._rotation(context)
        if isinstance(parsed, ExpiryCheckEvent):
            expiry = self._report_expiry(rotation, parsed.secret_id)
            logger.info("Token expiry checked", extra={"expiry": _expiry_detail(expiry)})
            return {"check": "TokenExpiry", "connected": expiry is not None}
        logger.append_keys(rotation_step=parsed.step.value)
        token = parsed.rotation_token.get_secret_value() if parsed.rotation_token else None
        try:
            result = rotation.run(parsed.step, parsed.secret_id, parsed.client_request_token, rotation_token=token)
        except PinsyncError as error:
            self._report_failure(rotation, parsed, error)
            raise
        outcome = "succeeded" if result.changed else "skipped"
        current = self._report_expiry(rotation, parsed.secret_id)
        self._publish(parsed.step, outcome, current, result.pending)
        logger.info("Rotation step done", extra={"outcome": outcome, "current": _expiry_detail(current)})
        return {"step": parsed.step.value, "outcome": outcome}

    def _rotation(self, context: Any) -> TokenRotation:
        settings = self.settings
        deadline = Deadline.from_lambda_context(context)
        return TokenRotation(
            secrets=SecretsManagerVersions(self.secrets_client, sleep=self.sleep),
            oauth=PinterestOAuthClient(
                base_url=settings.pinterest_api_base_url,
                session=self.session,
                timeout=settings.pinterest_timeout_seconds,
            ),
            account=PinterestAccountCheck(
                base_url=settings.pinterest_api_base_url,
                ad_account_id=settings.ad_account_id,
                session=self.session,
                deadline=deadline,
                timeout=settings.pinterest_timeout_seconds,
                sleep=self.sleep,
            ),
            clock=self.clock,
        )

    def _report_expiry(self, rotation: TokenRotation, secret_id: str) -> Expiry | None:
        """Days left of the token in use; 0 when not connected (so the alarms fire: nothing can sync)."""
        expiry = rotation.current_expiry(secret_id)
        now = self.clock()
        access = days_between(now, expiry.access_token_expires_at) if expiry else 0.0
        refresh = days_between(now, expiry.refresh_token_expires_at) if expiry else 0.0
        metrics.add_metric(name=ACCESS_TOKEN_DAYS_LEFT, unit=MetricUnit.NoUnit, value=max(access, 0.0))
        metrics.add_metric(name=REFRESH_TOKEN_DAYS_LEFT, unit=MetricUnit.NoUnit, value=max(refresh, 0.0))
        return expiry

    def _report_failure(self, rotation: TokenRotation, parsed: RotationEvent, error: PinsyncError) -> None:
        reason = getattr(error, "reason", "rotation_failed")
        needs_reconnect = bool(getattr(error, "needs_reconnect", False))
        metrics.add_metric(name=TOKEN_ROTATION_FAILURES, unit=MetricUnit.Count, value=1)
        try:
            current = self._report_expiry(rotation, parsed.secret_id)
        except RotationError:
            current = None
        self._publish(parsed.step, "failed", current, None, reason=reason, needs_reconnect=needs_reconnect, error=error)
        log = logger.critical if needs_reconnect else logger.error
        log(
            "Token rotation step failed; AWSCURRENT is unchanged",
            extra={"reason": reason, "needs_reconnect": needs_reconnect, "error": str(error)},
        )

    def _publish(
        self,
        step: RotationStep,
        outcome: str,
        current: Expiry | None,
        pending: Expiry | None,
        *,
        reason: str | None = None,
        needs_reconnect: bool = False,
        error: Exception | None = None,
    ) -> None:
        detail: dict[str, Any] = {
            "destination": {"name": self.settings.destination_name, "ad_account_id": self.settings.ad_account_id},
            "step": step.value,
            "outcome": outcome,
            "rotated": step is RotationStep.FINISH and outcome == "succeeded",
            "current": _expiry_detail(current),
            "pending": _expiry_detail(pending),
        }
        if outcome == "failed":
            detail.update(reason=reason, needs_reconnect=needs_reconnect, message=str(error))
        self.reporter.publish(TOKEN_ROTATION, detail)


def _expiry_detail(expiry: Expiry | None) -> dict[str, str] | None:
    if expiry is None:
        return None
    return {
        "access_token_expires_at": _iso(expiry.access_token_expires_at),
        "refresh_token_expires_at": _iso(expiry.refresh_token_expires_at),
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def rotation_runtime() -> RotationRuntime:
    """Built on the first invocation (not at import) so configuration errors surface as a clear failure."""
    quiet_sdk_loggers()
    settings = load_settings(RotationSettings)
    return RotationRuntime(
        settings=settings,
        session=requests.Session(),
        secrets_client=boto3.client("secretsmanager"),
        reporter=EventBridgeReporter(boto3.client("events"), settings.event_bus_name),
    )

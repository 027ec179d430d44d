"""Composition root of the token rotation function: its settings and clients in, the handling of one invocation out.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from pinsync.adapters.eventbridge import EventBridgePublisher
from pinsync.adapters.pinterest_oauth import PinterestAccountCheck, PinterestOAuthClient
from pinsync.adapters.secretsmanager_versions import SecretsManagerVersions
from pinsync.core.deadline import Deadline
from pinsync.core.errors import PinsyncError
from pinsync.core.observability import EMF_METRICS, MetricName, MetricsSink, MetricUnit, logger, quiet_sdk_loggers
from pinsync.core.ports import EventPublisher
from pinsync.events import Destination, DetailType, TokenRotation, detail_of
from pinsync.rotation.invocation import ExpiryCheckEvent, RotationEvent, parse_event
from pinsync.rotation.model import Expiry, RotationError
from pinsync.rotation.protocol import TokenRotationProtocol
from pinsync.rotation.report import days_left, failure_report, needs_reconnect, step_report, token_expiry
from pinsync.rotation.settings import RotationSettings


@dataclass(frozen=True)
class RotationClients:
    secretsmanager: Any
    events: Any
    session: requests.Session

    @classmethod
    def create(cls, session: boto3.Session | None = None, *, endpoint_url: str | None = None) -> RotationClients:
        """Clients from a boto3 session (the default one in Lambda); ``endpoint_url`` points them at moto."""
        session = session or boto3.Session()
        return cls(
            secretsmanager=session.client("secretsmanager", endpoint_url=endpoint_url),
            events=session.client("events", endpoint_url=endpoint_url),
            session=requests.Session(),
        )


@dataclass
class RotationRuntime:
    """Built once per cold start (``build_runtime``); the protocol and its deadline are built per invocation."""

    settings: RotationSettings
    clients: RotationClients
    publisher: EventPublisher
    metrics: MetricsSink
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]

    @property
    def destination(self) -> Destination:
        return Destination(name=self.settings.destination_name, ad_account_id=self.settings.ad_account_id)

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        parsed = parse_event(event)
        rotation = self._protocol(context)
        if isinstance(parsed, ExpiryCheckEvent):
            expiry = self._report_expiry(rotation, parsed.secret_id)
            expiry_detail = token_expiry(expiry)
            logger.info(
                "Token expiry checked",
                extra={"expiry": expiry_detail.model_dump(mode="json") if expiry_detail else None},
            )
            return {"check": "TokenExpiry", "connected": expiry is not None}
        logger.append_keys(rotation_step=parsed.step.value)
        token = parsed.rotation_token.get_secret_value() if parsed.rotation_token else None
        try:
            result = rotation.run(parsed.step, parsed.secret_id, parsed.client_request_token, rotation_token=token)
        except PinsyncError as error:
            self._report_failure(rotation, parsed, error)
            raise
        current = self._report_expiry(rotation, parsed.secret_id)
        report = step_report(
            self.destination, parsed.step, changed=result.changed, current=current, pending=result.pending
        )
        self._publish(report)
        logger.info("Rotation step done", extra={"outcome": report.outcome, "current": detail_of(report)["current"]})
        return {"step": parsed.step.value, "outcome": report.outcome}

    def _protocol(self, context: Any) -> TokenRotationProtocol:
        settings = self.settings
        return TokenRotationProtocol(
            secrets=SecretsManagerVersions(self.clients.secretsmanager, sleep=self.sleep),
            oauth=PinterestOAuthClient(
                base_url=settings.pinterest_api_base_url,
                session=self.clients.session,
                timeout=settings.pinterest_timeout_seconds,
            ),
            account=PinterestAccountCheck(
                base_url=settings.pinterest_api_base_url,
                ad_account_id=settings.ad_account_id,
                session=self.clients.session,
                deadline=Deadline.from_lambda_context(context),
                metrics=self.metrics,
                timeout=settings.pinterest_timeout_seconds,
                sleep=self.sleep,
            ),
            clock=self.clock,
        )

    def _report_expiry(self, rotation: TokenRotationProtocol, secret_id: str) -> Expiry | None:
        expiry = rotation.current_expiry(secret_id)
        access, refresh = days_left(expiry, self.clock())
        self.metrics.add_metric(MetricName.ACCESS_TOKEN_DAYS_LEFT, MetricUnit.NoUnit, access)
        self.metrics.add_metric(MetricName.REFRESH_TOKEN_DAYS_LEFT, MetricUnit.NoUnit, refresh)
        return expiry

    def _report_failure(self, rotation: TokenRotationProtocol, parsed: RotationEvent, error: PinsyncError) -> None:
        self.metrics.add_metric(MetricName.TOKEN_ROTATION_FAILURES, MetricUnit.Count, 1)
        try:
            current = self._report_expiry(rotation, parsed.secret_id)
        except RotationError:
            current = None
        report = failure_report(self.destination, parsed.step, error, current=current)
        self._publish(report)
        log = logger.critical if needs_reconnect(error) else logger.error
        log(
            "Token rotation step failed; AWSCURRENT is unchanged",
            extra={"reason": report.reason, "needs_reconnect": report.needs_reconnect, "error": str(error)},
        )

    def _publish(self, report: TokenRotation) -> None:
        self.publisher.publish(DetailType.TOKEN_ROTATION, detail_of(report))


def build_runtime(
    settings: RotationSettings,
    clients: RotationClients,
    *,
    metrics: MetricsSink = EMF_METRICS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> RotationRuntime:
    quiet_sdk_loggers()
    return RotationRuntime(
        settings=settings,
        clients=clients,
        publisher=EventBridgePublisher(clients.events, settings.event_bus_name),
        metrics=metrics,
        clock=clock,
        sleep=sleep,
    )

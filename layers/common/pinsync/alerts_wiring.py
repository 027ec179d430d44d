"""Composition root of the dataflow alert function: settings, clients, and the per-event flow
parse → classify → suppression → notify, returning a small summary.

An event the function does not understand is logged with a reason and the failing field names only (never the
payload) and counted as ``AlertEventsUnrecognized``; it never raises. Failures to reach SNS or the state table do
raise, so Lambda's asynchronous retries (then the on-failure queue) get another go, and an alert whose publish
failed has its suppression window reopened first so the retry sends it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any

import boto3
import requests
from pydantic import Field

from pinsync.adapters.alert_state import DynamoAlertState
from pinsync.adapters.notify import SnsNotifier, WebhookNotifier
from pinsync.alert_models import Unrecognized, parse_alert_event
from pinsync.alerts import (
    Alert,
    AlertContext,
    Ignored,
    Recovery,
    classify,
    is_suppressed,
    open_alert,
    recovered_alert,
    render,
)
from pinsync.config import _Settings, load_settings
from pinsync.observability import MetricUnit, logger, metrics, quiet_sdk_loggers

ALERTS_PUBLISHED = "AlertsPublished"
ALERTS_SUPPRESSED = "AlertsSuppressed"
ALERT_EVENTS_UNRECOGNIZED = "AlertEventsUnrecognized"

_MAX_FIELD_DEPTH = 3  # field paths in logs stop before user-chosen keys (e.g. reason names in *_by_reason)


class AlertSettings(_Settings):
    """The alert function's environment (template.yaml, DataflowAlertsFunction)."""

    alert_topic_arn: str = Field(min_length=1)
    state_table_name: str = Field(min_length=1)
    destination_name: str = Field(default="pinsync", min_length=1, max_length=100)
    stack_name: str = Field(default="pinsync", min_length=1)
    skipped_rate_threshold: float = Field(default=0.01, ge=0, le=1)
    suppression_minutes: int = Field(default=60, ge=1, le=10_080)
    alert_webhook_secret_id: str = ""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    sync_log_group: str = ""
    rotation_log_group: str = ""
    dashboard_name: str = ""
    dead_letter_queue_name: str = ""
    token_secret_id: str = ""

    @cached_property
    def context(self) -> AlertContext:
        return AlertContext(
            destination_name=self.destination_name,
            stack_name=self.stack_name,
            skipped_rate_threshold=self.skipped_rate_threshold,
            sync_log_group=self.sync_log_group,
            rotation_log_group=self.rotation_log_group,
            dashboard_name=self.dashboard_name,
            dead_letter_queue_name=self.dead_letter_queue_name,
            token_secret_id=self.token_secret_id,
        )

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.suppression_minutes)


@dataclass
class AlertRuntime:
    settings: AlertSettings
    state: DynamoAlertState
    notifier: SnsNotifier
    webhook: WebhookNotifier | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        parsed = parse_alert_event(event)
        if isinstance(parsed, Unrecognized):
            return self._unrecognized(parsed)
        ctx = self.settings.context
        now = self.clock()
        summary: Counter[str] = Counter()
        sent: list[str] = []
        for decision in classify(parsed, ctx):
            if isinstance(decision, Ignored):
                summary["ignored"] += 1
                logger.info("No alert for this event", extra={"reason": decision.reason})
            elif isinstance(decision, Recovery):
                opened = self.state.clear(decision.key)
                if opened is None:
                    summary["ignored"] += 1
                    logger.info("Alarm recovered but no alert was open", extra={"alert_key": decision.key})
                    continue
                self._send(recovered_alert(decision, opened, ctx))
                sent.append("recovered")
            else:
                record = open_alert(decision, now, self.settings.window)
                if is_suppressed(self.state.get(decision.key), now) or not self.state.try_open(record, now):
                    summary["suppressed"] += 1
                    metrics.add_metric(name=ALERTS_SUPPRESSED, unit=MetricUnit.Count, value=1)
                    logger.info("Alert suppressed (already open)", extra={"alert_key": decision.key})
                    continue
                try:
                    self._send(decision)
                except Exception:
                    self.state.reopen_window(decision.key)
                    raise
                sent.append(decision.alert_type.value)
        return {
            "recognized": True,
            "published": len(sent),
            "alert_types": sent,
            "suppressed": summary["suppressed"],
            "ignored": summary["ignored"],
        }

    def _send(self, alert: Alert) -> None:
        rendered = render(alert, self.settings.context)
        message_id = self.notifier.publish(rendered)
        metrics.add_metric(name=ALERTS_PUBLISHED, unit=MetricUnit.Count, value=1)
        logger.info(
            "Alert published",
            extra={"alert_type": rendered.alert_type, "severity": rendered.severity, "message_id": message_id},
        )
        if self.webhook is not None:
            self.webhook.post(rendered)

    @staticmethod
    def _unrecognized(parsed: Unrecognized) -> dict[str, Any]:
        metrics.add_metric(name=ALERT_EVENTS_UNRECOGNIZED, unit=MetricUnit.Count, value=1)
        fields = sorted({".".join(path.split(".")[:_MAX_FIELD_DEPTH]) for path in parsed.fields})
        logger.warning(
            "Event not recognised; no alert sent",
            extra={"reason": parsed.reason, "event_kind": parsed.kind, "problem_fields": fields},
        )
        return {"recognized": False, "reason": parsed.reason, "published": 0, "suppressed": 0, "ignored": 0}


@cache
def alert_runtime() -> AlertRuntime:
    """Built on the first invocation (not at import) so configuration errors surface as a clear failure."""
    quiet_sdk_loggers()
    settings = load_settings(AlertSettings)
    webhook = (
        WebhookNotifier(
            settings.alert_webhook_secret_id, session=requests.Session(), timeout=settings.webhook_timeout_seconds
        )
        if settings.alert_webhook_secret_id
        else None
    )
    return AlertRuntime(
        settings=settings,
        state=DynamoAlertState(boto3.client("dynamodb"), settings.state_table_name),
        notifier=SnsNotifier(boto3.client("sns"), settings.alert_topic_arn),
        webhook=webhook,
    )

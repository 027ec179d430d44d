"""Composition root of the dataflow alert function: its settings and AWS clients in, the alert flow out.

``functions/dataflow_alerts/app.py`` builds it once per cold start from the environment; tests and the local stack
build it with their own settings and clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from pinsync.adapters.dynamo_alerts import DynamoAlertState
from pinsync.adapters.sns import SnsNotifier
from pinsync.adapters.sqs_redrive import SqsDeadLetters
from pinsync.adapters.webhook import WebhookNotifier
from pinsync.alerts.service import AlertService
from pinsync.alerts.settings import AlertSettings
from pinsync.core.observability import EMF_METRICS, MetricsSink, quiet_sdk_loggers


@dataclass(frozen=True)
class AlertClients:
    dynamodb: Any
    sns: Any
    secretsmanager: Any
    session: requests.Session
    sqs: Any = None  # the queues, for the automatic redrive

    @classmethod
    def create(cls, session: boto3.Session | None = None, *, endpoint_url: str | None = None) -> AlertClients:
        """Clients from a boto3 session (the default one in Lambda); ``endpoint_url`` points them at moto."""
        session = session or boto3.Session()
        return cls(
            dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
            sns=session.client("sns", endpoint_url=endpoint_url),
            secretsmanager=session.client("secretsmanager", endpoint_url=endpoint_url),
            session=requests.Session(),
            sqs=session.client("sqs", endpoint_url=endpoint_url),
        )


@dataclass
class AlertRuntime:
    service: AlertService

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return self.service.handle(event)
        return self.service.handle(event, time_left=lambda: remaining() / 1000)


def build_runtime(
    settings: AlertSettings,
    clients: AlertClients,
    *,
    metrics: MetricsSink = EMF_METRICS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AlertRuntime:
    quiet_sdk_loggers()
    webhook = (
        WebhookNotifier(
            settings.alert_webhook_secret_id,
            session=clients.session,
            metrics=metrics,
            timeout=settings.webhook_timeout_seconds,
            boto3_client=clients.secretsmanager,
        )
        if settings.alert_webhook_secret_id
        else None
    )
    dead_letters = (
        SqsDeadLetters(
            clients.sqs,
            settings.dead_letter_queue_url,
            settings.audience_queue_url,
            max_messages=settings.auto_redrive_max_messages,
        )
        if settings.auto_redrive == "Enabled"
        and settings.dead_letter_queue_url
        and settings.audience_queue_url
        and clients.sqs is not None
        else None
    )
    return AlertRuntime(
        AlertService(
            context=settings.context,
            window=settings.window,
            state=DynamoAlertState(clients.dynamodb, settings.state_table_name),
            notifier=SnsNotifier(clients.sns, settings.alert_topic_arn),
            webhook=webhook,
            metrics=metrics,
            clock=clock,
            dead_letters=dead_letters,
        )
    )

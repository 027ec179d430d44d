"""Composition root of the sync function: settings, AWS clients and the Pinterest session, built once per
cold start and reused; the use case and its per-invocation pieces (deadline, owner) built per batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import requests
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from pinsync.adapters.events import EventBridgeReporter
from pinsync.adapters.ledger import DynamoLedger
from pinsync.adapters.pinterest import PinterestClient
from pinsync.adapters.secrets import SecretsManagerTokenSource
from pinsync.adapters.state import DynamoMappingStore
from pinsync.config import SyncSettings, load_settings
from pinsync.deadline import Deadline
from pinsync.membership import ActivationRule
from pinsync.observability import logger, quiet_sdk_loggers
from pinsync.report import publish_run, record_metrics
from pinsync.sync import AudienceSync, InboundMessage, SyncOptions


@dataclass
class SyncRuntime:
    settings: SyncSettings
    options: SyncOptions
    session: requests.Session
    tokens: SecretsManagerTokenSource
    mappings: DynamoMappingStore
    ledger: DynamoLedger
    reporter: EventBridgeReporter
    sleep: Callable[[float], None] = time.sleep  # retry waits; tests record them instead

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Process one SQS batch; return the partial batch response."""
        messages = inbound_messages(event)
        # A batch has many message ids; batch-level lines carry the first one, per-message lines their own.
        logger.set_correlation_id(messages[0].message_id if messages else None)
        logger.append_keys(message_count=len(messages))
        deadline = Deadline.from_lambda_context(context)
        client = PinterestClient(
            base_url=self.settings.pinterest_api_base_url,
            ad_account_id=self.settings.ad_account_id,
            tokens=self.tokens,
            session=self.session,
            deadline=deadline,
            timeout=self.settings.pinterest_timeout_seconds,
            sleep=self.sleep,
        )
        sync = AudienceSync(
            self._options_now(),
            client,
            self.mappings,
            clock=lambda: datetime.now(UTC),
            owner=str(getattr(context, "aws_request_id", "local")),
            deadline=deadline,
            ledger=self.ledger,
        )
        outcome = sync.run(messages)
        record_metrics(outcome)
        publish_run(
            outcome,
            self.reporter,
            {"name": self.settings.destination_name, "ad_account_id": self.settings.ad_account_id},
        )
        failed = outcome.failed_message_ids([message.message_id for message in messages])
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def _options_now(self) -> SyncOptions:
        """Activations recorded in the state table (``pinsync audiences activate``) override ACTIVATED_AUDIENCES."""
        activated = self.mappings.activations()
        if activated is None:
            return self.options
        return replace(self.options, activation=ActivationRule(everything=False, audience_ids=activated))


def inbound_messages(event: dict[str, Any]) -> list[InboundMessage]:
    now = datetime.now(UTC)
    messages = []
    for record in SQSEvent(event).records:
        sent_ms = record.attributes.sent_timestamp
        sent_at = datetime.fromtimestamp(int(sent_ms) / 1000, UTC) if sent_ms else now
        messages.append(InboundMessage(message_id=record.message_id, body=record.body, sent_at=sent_at))
    return messages


@cache
def sync_runtime() -> SyncRuntime:
    """Built on the first invocation (not at import) so configuration errors surface as a clear failure."""
    quiet_sdk_loggers()
    settings = load_settings(SyncSettings)
    options = SyncOptions(
        activation=settings.activation,
        namespaces=settings.namespaces,
        max_records=settings.max_records_per_request,
        destination_name=settings.destination_name,
        creation_lease=timedelta(seconds=settings.creation_lease_seconds),
        profile_namespaces=settings.profile_namespaces,
    )
    dynamodb = boto3.client("dynamodb")
    return SyncRuntime(
        settings=settings,
        options=options,
        session=requests.Session(),
        tokens=SecretsManagerTokenSource(settings.token_secret_id, max_age=settings.token_cache_seconds),
        mappings=DynamoMappingStore(dynamodb, settings.state_table_name),
        ledger=DynamoLedger(
            dynamodb, settings.state_table_name, retention=timedelta(days=settings.ledger_retention_days)
        ),
        reporter=EventBridgeReporter(boto3.client("events"), settings.event_bus_name),
    )

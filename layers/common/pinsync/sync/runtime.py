"""Composition root of the sync function: its settings and clients in, the handling of one SQS batch out.

``functions/audience_sync/app.py`` builds it once per cold start from the environment; tests, the local stack and the
benchmarks build it with their own settings and clients (``build_runtime``). The use case and its per-invocation
pieces (deadline, owner, activations in force) are built per batch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import requests
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from botocore.config import Config

from pinsync.adapters.dynamo_ledger import DynamoLedger
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.adapters.eventbridge import EventBridgePublisher
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.secretsmanager_token import SecretsManagerTokenSource
from pinsync.adapters.sqs_redrive import ORIGINAL_SENT_TIMESTAMP
from pinsync.adapters.sqs_visibility import SqsMessageVisibility
from pinsync.core.deadline import Deadline
from pinsync.core.observability import EMF_METRICS, MetricsSink, logger, quiet_sdk_loggers
from pinsync.core.ports import EventPublisher
from pinsync.events import Destination
from pinsync.sync.ports import MembershipLedger, MessageVisibility, VisibilityChange
from pinsync.sync.report import publish_run, record_metrics
from pinsync.sync.retry_schedule import RetryPolicy
from pinsync.sync.service import AudienceSync, InboundMessage, SyncOptions
from pinsync.sync.settings import SyncSettings

UNVALIDATED = Config(parameter_validation=False)
# The retry backoff's calls come after the batch is done, inside the deadline's reserve: fail fast, never retry long.
QUICK = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
# Time the invocation must still have to change visibilities (a few calls of well under a second each).
BACKOFF_SECONDS_NEEDED = 3.0


@dataclass(frozen=True)
class SyncClients:
    dynamodb: Any
    events: Any
    secretsmanager: Any
    session: requests.Session
    sqs: Any = None  # the audience queue's client (retry backoff); None: failed messages keep the queue's timeout

    @classmethod
    def create(cls, session: boto3.Session | None = None, *, endpoint_url: str | None = None) -> SyncClients:
        """Clients from a boto3 session (the default one in Lambda); ``endpoint_url`` points them at moto."""
        session = session or boto3.Session()
        return cls(
            # The ledger's requests are built by pinsync.adapters.dynamo_ledger from validated domain values:
            # botocore's parameter validation would walk every item of every batch again (a third of the sync
            # function's CPU on the ledger; bench/handler_cost.py).
            dynamodb=session.client("dynamodb", endpoint_url=endpoint_url, config=UNVALIDATED),
            events=session.client("events", endpoint_url=endpoint_url),
            secretsmanager=session.client("secretsmanager", endpoint_url=endpoint_url),
            session=requests.Session(),
            sqs=session.client("sqs", endpoint_url=endpoint_url, config=QUICK),
        )


@dataclass
class SyncRuntime:
    settings: SyncSettings
    options: SyncOptions
    session: requests.Session
    tokens: SecretsManagerTokenSource
    mappings: DynamoMappingStore
    ledger: MembershipLedger
    publisher: EventPublisher
    metrics: MetricsSink
    sleep: Callable[[float], None]
    clock: Callable[[], datetime]
    retry_policy: RetryPolicy
    visibility: MessageVisibility | None = None  # None: no backoff, failed messages keep the queue's timeout
    rng: random.Random = field(default_factory=random.Random)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Process one SQS batch; return the partial batch response."""
        messages = inbound_messages(event, self.clock())
        # A batch has many message ids; batch-level lines carry the first one, per-message lines their own.
        logger.set_correlation_id(messages[0].message_id if messages else None)
        logger.append_keys(message_count=len(messages))
        deadline = Deadline.from_lambda_context(context)
        client = PinterestClient.of(
            self.settings,
            tokens=self.tokens,
            session=self.session,
            deadline=deadline,
            metrics=self.metrics,
            sleep=self.sleep,
        )
        sync = AudienceSync(
            replace(self.options, activation=self.options.activation.in_force(self.mappings.activations())),
            client,
            self.mappings,
            clock=self.clock,
            owner=str(getattr(context, "aws_request_id", "local")),
            deadline=deadline,
            ledger=self.ledger,
            sleep=self.sleep,
            # A request that timed out may still be processed at Pinterest: hold its audience twice that long.
            settle=timedelta(seconds=2 * self.settings.pinterest_timeout_seconds),
        )
        outcome = sync.run(messages)
        record_metrics(outcome, self.metrics)
        publish_run(
            outcome,
            self.publisher,
            Destination(name=self.settings.destination_name, ad_account_id=self.settings.ad_account_id),
        )
        failed = outcome.failed_message_ids([message.message_id for message in messages])
        if self.visibility is not None:
            self._back_off(event, outcome.transiently_failed_message_ids(), outcome.rejected_message_ids(), deadline)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def _back_off(
        self, event: dict[str, Any], retried: Collection[str], rejected: Collection[str], deadline: Deadline
    ) -> None:
        """Hide the messages that failed transiently for their backoff; make the rejected ones visible at once: they
        can never succeed, and reach the dead-letter queue after maxReceiveCount deliveries in a few minutes."""
        if (retried or rejected) and deadline.remaining_seconds() < BACKOFF_SECONDS_NEEDED:
            logger.warning("No time left to delay the retry of messages: they keep the queue's visibility timeout")
            return
        try:
            changes = backoff_changes(event, retried, self.retry_policy, self.rng, rejected=rejected)
            unchanged = self.visibility.change(changes) if changes and self.visibility is not None else 0
        except Exception as error:  # never fail a processed batch over its retry timing
            logger.warning("Could not delay the retry of messages", extra={"error": type(error).__name__})
            return
        if len(changes) == unchanged:
            return
        logger.info(
            "Retries delayed",
            extra={
                "messages": len(changes) - unchanged,
                "longest_delay_seconds": max(change.seconds for change in changes),
            },
        )


def inbound_messages(event: dict[str, Any], now: datetime) -> list[InboundMessage]:
    messages = []
    for record in SQSEvent(event).records:
        sent_ms = record.attributes.sent_timestamp
        sent_at = datetime.fromtimestamp(int(sent_ms) / 1000, UTC) if sent_ms else now
        first_sent = _first_sent(record.get("messageAttributes"))
        if first_sent is not None and first_sent < sent_at:  # a redrive's: never later than SQS's own send time
            sent_at = first_sent
        messages.append(InboundMessage(message_id=record.message_id, body=record.body, sent_at=sent_at))
    return messages


def _first_sent(attributes: object) -> datetime | None:
    """The time a redriven message was first sent (pinsync.adapters.sqs_redrive), or None."""
    attribute = attributes.get(ORIGINAL_SENT_TIMESTAMP) if isinstance(attributes, dict) else None
    value = attribute.get("stringValue") if isinstance(attribute, dict) else None
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 13:
        return None  # 13 digits of milliseconds: until the year 2286
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def backoff_changes(
    event: dict[str, Any],
    retried: Collection[str],
    policy: RetryPolicy,
    rng: random.Random,
    *,
    rejected: Collection[str] = (),
) -> list[VisibilityChange]:
    """The visibility of each record of ``event`` whose message is in ``retried``, from its receive count (a record
    without one counts as a first delivery), and 0 for those in ``rejected`` (poison: no reason to wait)."""
    changes = []
    for record in SQSEvent(event).records:
        if not record.receipt_handle:
            continue
        if record.message_id in rejected:
            changes.append(VisibilityChange(receipt_handle=record.receipt_handle, seconds=0))
            continue
        if record.message_id not in retried:
            continue
        seconds = policy.visibility(_receive_count(record.attributes.get("ApproximateReceiveCount")), rng)
        if seconds is not None:
            changes.append(VisibilityChange(receipt_handle=record.receipt_handle, seconds=seconds))
    return changes


def _receive_count(value: object) -> int:
    try:
        return max(1, int(str(value)))
    except ValueError:
        return 1


def build_runtime(
    settings: SyncSettings,
    clients: SyncClients,
    *,
    ledger: MembershipLedger | None = None,
    metrics: MetricsSink = EMF_METRICS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    rng: random.Random | None = None,
) -> SyncRuntime:
    """The sync function's parts. ``ledger`` replaces the DynamoDB ledger (benchmarks measure without it); ``rng``
    draws the retry backoffs' jitter."""
    quiet_sdk_loggers()
    visibility = None
    if settings.audience_queue_url and clients.sqs is not None:
        visibility = SqsMessageVisibility(clients.sqs, settings.audience_queue_url)
        warn_if_horizon_not_covered(settings)
    options = SyncOptions(
        activation=settings.activation,
        namespaces=settings.namespaces,
        max_records=settings.max_records_per_request,
        destination_name=settings.destination_name,
        creation_lease=timedelta(seconds=settings.creation_lease_seconds),
        profile_namespaces=settings.profile_namespaces,
        consent_policy=settings.consent_policy,
    )
    return SyncRuntime(
        settings=settings,
        options=options,
        session=clients.session,
        tokens=SecretsManagerTokenSource(
            settings.token_secret_id, max_age=settings.token_cache_seconds, boto3_client=clients.secretsmanager
        ),
        mappings=DynamoMappingStore(clients.dynamodb, settings.state_table_name),
        ledger=ledger
        or DynamoLedger(
            clients.dynamodb, settings.state_table_name, retention=timedelta(days=settings.ledger_retention_days)
        ),
        publisher=EventBridgePublisher(clients.events, settings.event_bus_name),
        metrics=metrics,
        sleep=sleep,
        clock=clock,
        retry_policy=settings.retry_policy,
        visibility=visibility,
        rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
    )


def warn_if_horizon_not_covered(settings: SyncSettings) -> None:
    """The queue's maxReceiveCount must let the backoff outlast the retry horizon: say so when it does not (the
    function still works; failures longer than what it covers reach the dead-letter queue)."""
    horizon = settings.retry_horizon_hours * 3600
    if settings.retry_policy.covers(horizon):
        return
    schedule = settings.retry_policy.schedule
    logger.warning(
        "MaxReceiveCount is too small for RetryHorizonHours: longer failures reach the dead-letter queue",
        extra={
            "max_receive_count": settings.max_receive_count,
            "retry_horizon_hours": settings.retry_horizon_hours,
            "covered_hours": round(schedule.guaranteed_span(settings.max_receive_count) / 3600, 2),
            "receives_needed": schedule.receives_needed(horizon)
            if schedule.base_seconds and schedule.cap_seconds
            else None,
        },
    )

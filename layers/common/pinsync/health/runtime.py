"""Composition root of the audience health function: its settings and clients in, one check per invocation out.

``functions/audience_health/app.py`` builds it once per cold start from the environment; tests and the local stack
build it with their own settings and clients. The Pinterest client and its deadline are built per invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from pinsync.adapters.dynamo_health import DynamoHealthStore
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.adapters.eventbridge import EventBridgePublisher
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.secretsmanager_token import SecretsManagerTokenSource
from pinsync.core.deadline import Deadline
from pinsync.core.observability import EMF_METRICS, MetricsSink, quiet_sdk_loggers
from pinsync.core.ports import EventPublisher
from pinsync.events import Destination
from pinsync.health.service import AudienceHealthCheck
from pinsync.health.settings import HealthSettings


@dataclass(frozen=True)
class HealthClients:
    dynamodb: Any
    events: Any
    secretsmanager: Any
    session: requests.Session

    @classmethod
    def create(cls, session: boto3.Session | None = None, *, endpoint_url: str | None = None) -> HealthClients:
        """Clients from a boto3 session (the default one in Lambda); ``endpoint_url`` points them at moto."""
        session = session or boto3.Session()
        return cls(
            dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
            events=session.client("events", endpoint_url=endpoint_url),
            secretsmanager=session.client("secretsmanager", endpoint_url=endpoint_url),
            session=requests.Session(),
        )


@dataclass
class HealthRuntime:
    settings: HealthSettings
    session: requests.Session
    tokens: SecretsManagerTokenSource
    mappings: DynamoMappingStore
    health: DynamoHealthStore
    publisher: EventPublisher
    metrics: MetricsSink
    sleep: Callable[[float], None]
    clock: Callable[[], datetime]

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """The scheduled event carries nothing the check needs (and is never logged)."""
        deadline = Deadline.from_lambda_context(context)
        client = PinterestClient.of(
            self.settings,
            tokens=self.tokens,
            session=self.session,
            deadline=deadline,
            metrics=self.metrics,
            sleep=self.sleep,
        )
        check = AudienceHealthCheck(
            mappings=self.mappings,
            health=self.health,
            pinterest=client,
            publisher=self.publisher,
            metrics=self.metrics,
            destination=Destination(name=self.settings.destination_name),
            deadline=deadline,
            clock=self.clock,
        )
        return check.run()


def build_runtime(
    settings: HealthSettings,
    clients: HealthClients,
    *,
    metrics: MetricsSink = EMF_METRICS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> HealthRuntime:
    quiet_sdk_loggers()
    return HealthRuntime(
        settings=settings,
        session=clients.session,
        tokens=SecretsManagerTokenSource(
            settings.token_secret_id, max_age=settings.token_cache_seconds, boto3_client=clients.secretsmanager
        ),
        mappings=DynamoMappingStore(clients.dynamodb, settings.state_table_name),
        health=DynamoHealthStore(clients.dynamodb, settings.state_table_name),
        publisher=EventBridgePublisher(clients.events, settings.event_bus_name),
        metrics=metrics,
        sleep=sleep,
        clock=clock,
    )

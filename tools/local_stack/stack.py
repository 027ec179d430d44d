"""The local stack: moto server (SQS, DynamoDB, Secrets Manager, EventBridge), the Pinterest emulator and
resources shaped like ``template.yaml`` creates them, on loopback ports, in this process.

The sync function runs with the settings it gets in AWS (``sync_settings``), built through the same composition root
(``pinsync.sync.runtime.build_runtime``) with clients pointed at moto (``sync_handler``). Nothing here changes the
process environment: ``cli_environment`` is what a producer or the CLI exports to reach the stack (``pinsync local
up`` prints it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer
from pinsync.core.observability import instrumented
from pinsync.health.runtime import HealthClients
from pinsync.health.runtime import build_runtime as build_health_runtime
from pinsync.health.settings import HealthSettings
from pinsync.rotation.runtime import RotationClients
from pinsync.rotation.runtime import build_runtime as build_rotation_runtime
from pinsync.rotation.settings import RotationSettings
from pinsync.sync.retry_schedule import RetrySchedule
from pinsync.sync.runtime import SyncClients, SyncRuntime, build_runtime
from pinsync.sync.settings import SyncSettings
from pinsync.tokens import TokenSecret, expiry_from
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorServer

from local_stack.handlers import Handler

REGION = "us-east-1"
QUEUE = "pinsync-audience"
DEAD_LETTER_QUEUE = "pinsync-audience-dlq"
RUNS_QUEUE = "pinsync-dataflow-runs"
TABLE = "pinsync-state"
SECRET_NAME = "pinsync/pinterest-token"  # noqa: S105 - a name, not a value
DESTINATION_NAME = "pinsync local"


@dataclass(frozen=True)
class LocalSettings:
    """Local counterparts of the template parameters."""

    moto_port: int = 0
    emulator_port: int = 0
    # Everything, unlike a deployed stack's `none`: locally nothing leaves the machine (the emulator is Pinterest).
    activated_audiences: str = "*"
    max_records_per_request: int = 1000
    # Short so that failed messages come back (and poison ones reach the DLQ) within seconds locally: the retry
    # backoff of the sync function hides a failed message for this long too, whatever its receive count.
    visibility_timeout: int = 1
    max_receive_count: int = 3


@dataclass
class LocalStack:
    """Handles to the running local stack."""

    moto: ThreadedMotoServer
    emulator: EmulatorServer
    endpoint_url: str
    queue_url: str
    dead_letter_queue_url: str
    runs_queue_url: str
    secret_arn: str
    settings: LocalSettings

    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)  # noqa: S106

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)

    def _pinterest_and_table(self) -> dict[str, Any]:
        """What the functions that call Pinterest and use the state table share: the emulator, the secret, the table."""
        return {
            "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
            "pinterest_api_base_url": self.emulator.base_url,
            "token_secret_id": self.secret_arn,
            "state_table_name": TABLE,
            "event_bus_name": "default",
        }

    def sync_settings(self, **overrides: Any) -> SyncSettings:
        """The sync function's settings, as template.yaml sets them, pointed at the local resources."""
        values: dict[str, Any] = {
            **self._pinterest_and_table(),
            "activated_audiences": self.settings.activated_audiences,
            "max_records_per_request": self.settings.max_records_per_request,
            "destination_name": DESTINATION_NAME,
        }
        return SyncSettings.of(**(values | self.retry_settings() | overrides))

    def retry_settings(self) -> dict[str, Any]:
        """The retry backoff on the local queue: every delay is the local visibility timeout (seconds, not hours),
        and the horizon is what the local maxReceiveCount covers, so that the function has nothing to warn about."""
        seconds = self.settings.visibility_timeout
        covered = RetrySchedule(seconds, seconds).guaranteed_span(self.settings.max_receive_count)
        return {
            "audience_queue_url": self.queue_url,
            "max_receive_count": self.settings.max_receive_count,
            "retry_base_seconds": seconds,
            "retry_cap_seconds": seconds,
            "retry_horizon_hours": max(covered, 1) / 3600,
        }

    def sync_runtime(
        self, *, sleep: Callable[[float], None] = time.sleep, clients: SyncClients | None = None, **overrides: Any
    ) -> SyncRuntime:
        """The sync function's parts, built by its composition root with clients pointed at moto."""
        clients = clients or SyncClients.create(self.session(), endpoint_url=self.endpoint_url)
        return build_runtime(self.sync_settings(**overrides), clients, sleep=sleep)

    def sync_handler(self, *, runtime: SyncRuntime | None = None, **overrides: Any) -> Handler:
        """The sync function's handler as Lambda runs it (decorators included), on ``runtime`` or a new one."""
        handler: Handler = instrumented()((runtime or self.sync_runtime(**overrides)).handle)
        return handler

    def rotation_handler(self, *, sleep: Callable[[float], None] = time.sleep, **overrides: Any) -> Handler:
        """The token rotation function's handler as Lambda runs it, with the settings template.yaml gives it."""
        values: dict[str, Any] = {
            "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
            "pinterest_api_base_url": self.emulator.base_url,
            "event_bus_name": "default",
            "destination_name": DESTINATION_NAME,
        }
        runtime = build_rotation_runtime(
            RotationSettings.of(**(values | overrides)),
            RotationClients.create(self.session(), endpoint_url=self.endpoint_url),
            sleep=sleep,
        )
        handler: Handler = instrumented()(runtime.handle)
        return handler

    def health_handler(self, *, clock: Callable[[], datetime] | None = None, **overrides: Any) -> Handler:
        """The audience health function's handler as Lambda runs it, with the settings template.yaml gives it."""
        values: dict[str, Any] = {**self._pinterest_and_table(), "destination_name": DESTINATION_NAME}
        runtime = build_health_runtime(
            HealthSettings.of(**(values | overrides)),
            HealthClients.create(self.session(), endpoint_url=self.endpoint_url),
            clock=clock or (lambda: datetime.now(UTC)),
        )
        handler: Handler = instrumented()(runtime.handle)
        return handler

    def function_environment(self) -> dict[str, str]:
        """The sync function's environment as template.yaml sets it, pointed at the local endpoints: for a child
        process that loads ``functions/audience_sync/app.py`` the way Lambda does (the benchmarks)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AD_ACCOUNT_ID": DEFAULT_AD_ACCOUNT_ID,
            "PINTEREST_API_BASE_URL": self.emulator.base_url,
            "TOKEN_SECRET_ID": self.secret_arn,
            "STATE_TABLE_NAME": TABLE,
            "EVENT_BUS_NAME": "default",
            "ACTIVATED_AUDIENCES": self.settings.activated_audiences,
            "MAX_RECORDS_PER_REQUEST": str(self.settings.max_records_per_request),
            "DESTINATION_NAME": DESTINATION_NAME,
            **{name.upper(): str(value) for name, value in self.retry_settings().items()},
            "POWERTOOLS_SERVICE_NAME": "pinsync",
            "POWERTOOLS_METRICS_NAMESPACE": "Pinsync",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def cli_environment(self) -> dict[str, str]:
        """What a producer or the CLI exports to reach the stack (``pinsync local up`` prints it)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PINSYNC_QUEUE_URL": self.queue_url,
            "PINSYNC_DEAD_LETTER_QUEUE_URL": self.dead_letter_queue_url,
            "STATE_TABLE_NAME": TABLE,
            "TOKEN_SECRET_ID": self.secret_arn,
            "PINTEREST_API_BASE_URL": self.emulator.base_url,
            "PINSYNC_EMULATOR_URL": self.emulator.root_url,
            "AD_ACCOUNT_ID": DEFAULT_AD_ACCOUNT_ID,
            "DESTINATION_NAME": DESTINATION_NAME,
        }


def provision(endpoint_url: str, emulator: EmulatorServer, settings: LocalSettings) -> dict[str, str]:
    """Create the queues, table, secret and the rule that copies ``pinsync`` events to a queue we can read."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)  # noqa: S106
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    dlq_url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE, Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "VisibilityTimeout": str(settings.visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
            ),
        },
    )["QueueUrl"]
    runs_url = sqs.create_queue(QueueName=RUNS_QUEUE)["QueueUrl"]
    runs_arn = sqs.get_queue_attributes(QueueUrl=runs_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    create_state_table(session.client("dynamodb", endpoint_url=endpoint_url))

    events = session.client("events", endpoint_url=endpoint_url)
    events.put_rule(Name="pinsync-reports", EventPattern=json.dumps({"source": ["pinsync"]}))
    events.put_targets(Rule="pinsync-reports", Targets=[{"Id": "runs", "Arn": runs_arn}])

    secret = seeded_token_secret(emulator)
    secret_arn = session.client("secretsmanager", endpoint_url=endpoint_url).create_secret(
        Name=SECRET_NAME, SecretString=secret.to_secret_string()
    )["ARN"]
    return {
        "queue_url": queue_url,
        "dead_letter_queue_url": dlq_url,
        "runs_queue_url": runs_url,
        "secret_arn": secret_arn,
    }


def create_state_table(dynamodb: Any, name: str = TABLE) -> None:
    """The state table with the template's key schema (``pk`` / ``sk``)."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )


def seeded_token_secret(emulator: EmulatorServer) -> TokenSecret:
    """What `pinsync connect` would store, minted directly by the emulator."""
    minted = emulator.state.mint_tokens(DEFAULT_CLIENT_ID)
    now = datetime.fromtimestamp(emulator.state.now(), UTC)
    return TokenSecret.model_validate(
        {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "access_token": minted["access_token"],
            "refresh_token": minted["refresh_token"],
            "access_token_expires_at": expiry_from(now, int(minted["expires_in"])),
            "refresh_token_expires_at": expiry_from(now, int(minted["refresh_token_expires_in"])),
            "scope": minted["scope"],
        }
    )


@contextmanager
def local_stack(settings: LocalSettings | None = None) -> Iterator[LocalStack]:
    """Start moto and the emulator, provision resources; stop on exit."""
    settings = settings or LocalSettings()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=settings.moto_port, verbose=False)
    moto.start()
    try:  # an emulator that cannot start (its port taken: werkzeug exits) must not leave moto serving
        emulator = EmulatorServer(host="127.0.0.1", port=settings.emulator_port).start()
        try:
            host, port = moto.get_host_and_port()
            endpoint_url = f"http://{host}:{port}"
            # moto keeps its state in-process: start from an empty account even if this process ran a stack before.
            requests.post(f"{endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
            resources = provision(endpoint_url, emulator, settings)
            stack = LocalStack(moto=moto, emulator=emulator, endpoint_url=endpoint_url, settings=settings, **resources)
            yield stack
        finally:
            emulator.stop()
    finally:
        moto.stop()

"""Fixtures for handler tests: moto in-process for AWS, the Pinterest emulator over real HTTP."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from local_stack.handlers import Handler
from local_stack.stack import create_state_table, seeded_token_secret
from moto import mock_aws
from pinsync.core.observability import instrumented
from pinsync.core.observability import logger as pinsync_logger
from pinsync.sync.runtime import SyncClients, SyncRuntime, build_runtime
from pinsync.sync.settings import SyncSettings
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer

from tests.builders import FakeContext

REGION = "us-east-1"
TABLE = "pinsync-state"
# template.yaml's SyncQueue VisibilityTimeout: a failed message comes back this long after its delivery.
VISIBILITY_TIMEOUT_SECONDS = 660


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    server = EmulatorServer().start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    emulator_server.state.reset()
    emulator_server.state.clear_requests_log()
    return emulator_server


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's dummy credentials and region, and no endpoint override (moto intercepts in-process)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def received_json(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue, parsed as JSON (received and deleted)."""
    found = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def pinsync_events_queue(name: str) -> str:
    """A queue that receives every ``pinsync`` event from the default bus (what the functions publish)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name=f"{name}-rule", EventPattern=json.dumps({"source": ["pinsync"]}))
    events.put_targets(Rule=f"{name}-rule", Targets=[{"Id": name, "Arn": arn}])
    return url


@dataclass
class Aws:
    secret_arn: str
    runs_queue_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def dataflow_runs(self) -> list[dict[str, Any]]:
        events = received_json(self.client("sqs"), self.runs_queue_url)
        return [event["detail"] for event in events if event["detail-type"] == "Dataflow Run"]

    def mapping(self, audience_id: str) -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(
            TableName=TABLE, Key={"pk": {"S": f"AUDIENCE#{audience_id}"}, "sk": {"S": "MAPPING"}}
        )
        found: dict[str, Any] | None = item.get("Item")
        return found


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> Iterator[Aws]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        create_state_table(boto3.client("dynamodb", region_name=REGION))
        secret = seeded_token_secret(emulator)
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="pinsync/pinterest-token", SecretString=secret.to_secret_string()
        )["ARN"]
        yield Aws(secret_arn=arn, runs_queue_url=pinsync_events_queue("runs"))


@dataclass
class SyncFunction(Aws):
    """The sync function as Lambda runs it (its decorators included), on a runtime built from test settings with
    retry waits recorded instead of slept. ``functions/audience_sync/app.py`` itself, reading the environment, is
    exercised by tests/integration/test_function_entrypoints.py."""

    emulator: EmulatorServer
    waits: list[float] = field(default_factory=list)
    elapsed: timedelta = timedelta(0)  # time passed between invocations (see :meth:`elapse`)
    runtime: SyncRuntime = field(init=False)
    handler: Handler = field(init=False)

    def __post_init__(self) -> None:
        self.configure()

    def settings(self, **overrides: Any) -> SyncSettings:
        """The sync function's settings, as template.yaml sets them, pointed at moto and the emulator."""
        values: dict[str, Any] = {
            "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
            "pinterest_api_base_url": self.emulator.base_url,
            "token_secret_id": self.secret_arn,
            "state_table_name": TABLE,
            "event_bus_name": "default",
            "activated_audiences": "*",
            "max_records_per_request": 1000,
            "destination_name": "pinsync test",
        }
        return SyncSettings.of(**(values | overrides))

    def configure(self, *, clients: SyncClients | None = None, **overrides: Any) -> SyncRuntime:
        """(Re)build the function with these settings (and clients), as a new cold start would."""
        runtime = build_runtime(
            self.settings(**overrides), clients or SyncClients.create(), sleep=self.waits.append, clock=self.clock
        )
        self.runtime = runtime
        self.handler = instrumented()(runtime.handle)
        return runtime

    def clock(self) -> datetime:
        """The function's clock: real time, plus the waits it asked for and the time :meth:`elapse` let pass."""
        return datetime.now(UTC) + self.elapsed + timedelta(seconds=sum(self.waits))

    def elapse(self, seconds: float) -> None:
        """Let time pass, as between a failed delivery and its redelivery (the queue's visibility timeout)."""
        self.elapsed += timedelta(seconds=seconds)

    def invoke(self, event: dict[str, Any], context: FakeContext | None = None) -> dict[str, Any]:
        return self.handler(event, context or FakeContext())


@pytest.fixture
def sync_env(aws: Aws, emulator: EmulatorServer) -> SyncFunction:
    return SyncFunction(secret_arn=aws.secret_arn, runs_queue_url=aws.runs_queue_url, emulator=emulator)


@pytest.fixture
def waits(sync_env: SyncFunction) -> list[float]:
    """Retry waits the Pinterest client asked for, recorded instead of slept."""
    return sync_env.waits


@pytest.fixture
def log_capture() -> Iterator[io.StringIO]:
    """Everything pinsync's logger writes, formatted as in Lambda (JSON)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(pinsync_logger.registered_formatter)
    stdlib_logger = logging.getLogger(pinsync_logger.name)  # the logging.Logger powertools writes through
    stdlib_logger.addHandler(handler)
    yield buffer
    stdlib_logger.removeHandler(handler)

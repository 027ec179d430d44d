"""The local stack: moto server (SQS, DynamoDB, Secrets Manager, EventBridge), the Pinterest emulator and
resources shaped like ``template.yaml`` creates them, on loopback ports, in this process.

Everything the sync function needs comes from environment variables it also gets in AWS; the only local
difference is ``AWS_ENDPOINT_URL`` pointing at moto.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer
from pinsync.tokens import TokenSecret, expiry_from
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorServer

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
    activated_audiences: str = "*"
    max_records_per_request: int = 1000
    # Short so that failed messages come back (and poison ones reach the DLQ) within seconds locally.
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

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION)

    def function_environment(self) -> dict[str, str]:
        """The sync function's environment, as template.yaml sets it, pointed at the local endpoints."""
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
            "POWERTOOLS_SERVICE_NAME": "pinsync",
            "POWERTOOLS_METRICS_NAMESPACE": "Pinsync",
            "POWERTOOLS_TRACE_DISABLED": "true",
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
    """Start moto and the emulator, provision resources, export the function environment; stop on exit."""
    settings = settings or LocalSettings()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=settings.moto_port, verbose=False)
    moto.start()
    emulator = EmulatorServer(host="127.0.0.1", port=settings.emulator_port).start()
    previous = dict(os.environ)
    try:
        host, port = moto.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        # moto keeps its state in-process: start from an empty account even if this process ran a stack before.
        requests.post(f"{endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        resources = provision(endpoint_url, emulator, settings)
        stack = LocalStack(moto=moto, emulator=emulator, endpoint_url=endpoint_url, settings=settings, **resources)
        os.environ.update(stack.function_environment())
        yield stack
    finally:
        os.environ.clear()
        os.environ.update(previous)
        emulator.stop()
        moto.stop()

"""The CLI driven as a user would: `main([...])` with captured output, against moto server and the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_stack.poller import SqsPoller
from local_stack.stack import LocalSettings, LocalStack, local_stack
from pinsync.sync.contract import parse_body
from pinsync_cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run `pinsync ARGS...` in-process; argparse usage errors come back as their exit code."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def start(settings: LocalSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """A local stack, with what `pinsync local up` tells the operator to export in the environment the CLI reads."""
    with local_stack(settings) as stack:
        for name, value in stack.cli_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("PINSYNC_STACK_NAME", raising=False)
        yield stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    yield from start(LocalSettings(max_receive_count=2), monkeypatch)


def process(stack: LocalStack, timeout: float = 30) -> SqsPoller:
    """Run the sync function over the queue until it is drained (failed messages come back, poison ones go)."""
    poller = SqsPoller(stack.client("sqs"), stack.queue_url, stack.sync_handler())
    poller.run_until_drained(timeout=timeout)
    return poller


def drain(stack: LocalStack, url: str | None = None) -> list[str]:
    """Every message body on a queue (received and deleted)."""
    sqs = stack.client("sqs")
    url = url or stack.queue_url
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        bodies.extend(message["Body"] for message in batch)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return bodies


def depth(stack: LocalStack, url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def profiles_of(bodies: list[str]) -> list[dict[str, Any]]:
    """Every profile of every body, each body checked against the contract first."""
    profiles: list[dict[str, Any]] = []
    for body in bodies:
        parse_body(body)
        document = json.loads(body)
        profiles.extend(document if isinstance(document, list) else [document])
    return profiles


ACCESS_DENIED = ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "SendMessageBatch")


class FailingBatches:
    """An SQS client whose SendMessageBatch calls after the first `good` raise `error` (by default a non-retryable
    AWS error)."""

    def __init__(self, real: Any, good: int, error: BaseException = ACCESS_DENIED) -> None:
        self._real = real
        self._good = good
        self._error = error

    def send_message_batch(self, **kwargs: Any) -> Any:
        if self._good <= 0:
            raise self._error
        self._good -= 1
        return self._real.send_message_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def fail_batches_after(monkeypatch: pytest.MonkeyPatch, good: int, error: BaseException = ACCESS_DENIED) -> None:
    """The CLI's SQS client fails every SendMessageBatch after the first `good` (an AWS error, or Ctrl-C, mid-way)."""
    from pinsync_cli.stack import Deployment

    client = Deployment.client

    def failing(self: Deployment, service: str, **kwargs: Any) -> Any:
        real = client(self, service, **kwargs)
        return FailingBatches(real, good, error) if service == "sqs" else real

    monkeypatch.setattr(Deployment, "client", failing)

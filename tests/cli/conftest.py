"""The CLI driven as a user would: `main([...])` with captured output, against moto server and the emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pinsync.contract import parse_body
from pinsync.wiring import sync_runtime
from pinsync_cli.local_stack import LocalSettings, LocalStack, local_stack
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


def _start(settings: LocalSettings) -> Iterator[LocalStack]:
    sync_runtime.cache_clear()
    with local_stack(settings) as stack:
        # What `pinsync local up` tells the operator to export, on top of the function's own environment.
        os.environ["PINSYNC_QUEUE_URL"] = stack.queue_url
        os.environ["PINSYNC_DEAD_LETTER_QUEUE_URL"] = stack.dead_letter_queue_url
        os.environ.pop("PINSYNC_STACK_NAME", None)
        yield stack
    sync_runtime.cache_clear()


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    yield from _start(LocalSettings(max_receive_count=2))


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

"""A redrive sends dead-lettered messages again, and SQS stamps the new send with the time of the redrive: the
message carries the time it was first sent, which the sync function takes as its send time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pinsync.adapters.sqs_redrive import ORIGINAL_SENT_TIMESTAMP, move_messages
from pinsync.sync.runtime import inbound_messages

from tests.builders import EPOCH
from tests.integration.conftest import REGION, fake_aws_environment


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _receive(sqs: Any, url: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    [message] = messages
    return message


def _as_lambda_record(message: dict[str, Any]) -> dict[str, Any]:
    """The record Lambda's SQS event source would make of a received message."""
    attributes = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": attributes,
    }


@pytest.mark.parametrize("mark", [False, True])
def test_a_redriven_message_reaches_the_sync_function_with_the_time_it_was_first_sent(sqs: Any, mark: bool) -> None:
    queue = sqs.create_queue(QueueName="audience")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="audience-dlq")["QueueUrl"]
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody="{}",
        MessageAttributes={f"producer{n}": {"DataType": "String", "StringValue": "x"} for n in range(8)},
    )
    first_sent = _receive(sqs, dlq)["Attributes"]["SentTimestamp"]
    move_messages(sqs, dlq, queue, only_valid=False, mark=mark)
    redriven = _receive(sqs, queue)
    assert redriven["MessageAttributes"][ORIGINAL_SENT_TIMESTAMP]["StringValue"] == first_sent
    assert len(redriven["MessageAttributes"]) == (10 if mark else 9)  # the producer's 8 are kept
    record = _as_lambda_record(redriven)
    # The resend is stamped when the redrive ran, a day later say (moto stamps it with the clock of the test)
    record["attributes"] = {**record["attributes"], "SentTimestamp": str(int(first_sent) + 86_400_000)}
    [message] = inbound_messages({"Records": [record]}, EPOCH)
    assert int(message.sent_at.timestamp() * 1000) == int(first_sent)

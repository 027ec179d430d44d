"""The local stand-in for Lambda's SQS event source mapping (tools/local_stack/poller.py) against moto in-process:
the event it builds and what it does with the function's answer, as AWS documents them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from local_stack.poller import SqsPoller
from moto import mock_aws
from pinsync.adapters.sqs_redrive import ORIGINAL_SENT_TIMESTAMP
from pinsync.sync.runtime import inbound_messages

from tests.builders import EPOCH
from tests.integration.conftest import REGION, fake_aws_environment

Respond = Callable[[list[str]], Any]


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _queue(sqs: Any, messages: int) -> str:
    url: str = sqs.create_queue(QueueName="audience", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    for number in range(messages):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {number}")
    return url


def _left_on_queue(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


class Recorder:
    """A handler that records its events and answers what ``respond`` makes of the batch's message ids."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        return self.respond([record["messageId"] for record in event["Records"]])


def test_message_attributes_reach_the_function_shaped_as_lambda_shapes_them(sqs: Any) -> None:
    # Lambda's SQS records carry message attributes in lower camel case, binary values base64-encoded, and
    # md5OfMessageAttributes (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, "Example standard queue
    # message event"): the sync function reads a redrive's ORIGINAL_SENT_TIMESTAMP["stringValue"].
    url = _queue(sqs, 0)
    first_sent_ms = 1_795_860_000_000
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="{}",
        MessageAttributes={
            ORIGINAL_SENT_TIMESTAMP: {"DataType": "Number", "StringValue": str(first_sent_ms)},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    recorder = Recorder(lambda ids: {"batchItemFailures": []})
    SqsPoller(sqs, url, recorder, batch_size=1).poll_once(wait_seconds=0)
    [record] = recorder.events[0]["Records"]
    assert record["messageAttributes"] == {
        ORIGINAL_SENT_TIMESTAMP: {
            "stringValue": str(first_sent_ms),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\x01").decode("ascii"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert json.loads(json.dumps(recorder.events[0])) == recorder.events[0]  # what Lambda delivers is JSON
    # So the sync function takes a redriven message's first send time locally as it does in AWS
    [message] = inbound_messages(recorder.events[0], EPOCH)
    assert int(message.sent_at.timestamp() * 1000) == first_sent_ms


def test_the_record_names_the_queue_s_region(sqs: Any) -> None:
    west = boto3.client("sqs", region_name="eu-west-1")
    url = _queue(west, 1)
    recorder = Recorder(lambda ids: None)
    SqsPoller(west, url, recorder, batch_size=1).poll_once(wait_seconds=0)
    [record] = recorder.events[0]["Records"]
    assert record["eventSourceARN"].startswith("arn:aws:sqs:eu-west-1:")
    assert record["awsRegion"] == "eu-west-1"
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(record["attributes"])
    assert "md5OfMessageAttributes" not in record  # no attributes, none of their digest


# "Handling errors for an SQS event source in Lambda", success and failure conditions
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html): an empty or null batchItemFailures
# list, an empty or null response is a complete success; an invalid JSON response, an empty or null itemIdentifier,
# an itemIdentifier under another key name or naming a message not in the batch is a complete failure.
COMPLETE_SUCCESS: dict[str, Respond] = {
    "null response": lambda ids: None,
    "empty response": lambda ids: {},
    "null list": lambda ids: {"batchItemFailures": None},
    "empty list": lambda ids: {"batchItemFailures": []},
    "tuple (a JSON list)": lambda ids: {"batchItemFailures": ()},
}
COMPLETE_FAILURE: dict[str, Respond] = {
    "empty itemIdentifier": lambda ids: {"batchItemFailures": [{"itemIdentifier": ""}]},
    "null itemIdentifier": lambda ids: {"batchItemFailures": [{"itemIdentifier": None}]},
    "bad key name": lambda ids: {"batchItemFailures": [{"messageId": ids[0]}]},
    "unknown message id": lambda ids: {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]},
    "number itemIdentifier": lambda ids: {"batchItemFailures": [{"itemIdentifier": 1}]},
    "entry not an object": lambda ids: {"batchItemFailures": [ids[0]]},
    "list not a list": lambda ids: {"batchItemFailures": {"itemIdentifier": ids[0]}},
    "string for the list": lambda ids: {"batchItemFailures": ids[0]},
    "response not an object": lambda ids: [{"itemIdentifier": ids[0]}],
    "not JSON serialisable": lambda ids: {"batchItemFailures": [], "detail": object()},
}


@pytest.mark.parametrize("respond", COMPLETE_SUCCESS.values(), ids=COMPLETE_SUCCESS.keys())
def test_answers_lambda_takes_for_a_complete_success_delete_the_batch(sqs: Any, respond: Respond) -> None:
    url = _queue(sqs, 3)
    poller = SqsPoller(sqs, url, Recorder(respond), batch_size=3)
    assert poller.poll_once(wait_seconds=0) == 3
    assert _left_on_queue(sqs, url) == 0
    assert (poller.stats.failed_messages, poller.stats.handler_errors) == (0, 0)


@pytest.mark.parametrize("respond", COMPLETE_FAILURE.values(), ids=COMPLETE_FAILURE.keys())
def test_answers_lambda_takes_for_a_complete_failure_leave_the_whole_batch(sqs: Any, respond: Respond) -> None:
    url = _queue(sqs, 3)
    poller = SqsPoller(sqs, url, Recorder(respond), batch_size=3)
    assert poller.poll_once(wait_seconds=0) == 3
    assert _left_on_queue(sqs, url) == 3
    assert poller.stats.failed_messages == 3


def test_a_partial_batch_response_leaves_only_the_named_messages(sqs: Any) -> None:
    url = _queue(sqs, 3)
    failing_second = Recorder(lambda ids: {"batchItemFailures": [{"itemIdentifier": ids[1]}] * 2})
    poller = SqsPoller(sqs, url, failing_second, batch_size=3)
    poller.poll_once(wait_seconds=0)
    assert _left_on_queue(sqs, url) == 1
    assert poller.stats.failed_messages == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_function_that_runs_past_its_timeout_fails_the_whole_batch(sqs: Any) -> None:
    # Lambda stops an invocation at the function's Timeout and reports it as an error ("Task timed out"): the batch is
    # not deleted and comes back after the visibility timeout, whatever the function would have answered.
    url = _queue(sqs, 2)
    clock = FakeClock()
    remaining: list[int] = []
    errors: list[BaseException] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        remaining.append(context.get_remaining_time_in_millis())
        clock.now += 60.5
        return {"batchItemFailures": []}

    poller = SqsPoller(sqs, url, slow, batch_size=2, function_timeout=60, clock=clock, on_error=errors.append)
    poller.poll_once(wait_seconds=0)
    assert remaining == [60_000]
    assert _left_on_queue(sqs, url) == 2
    assert (poller.stats.failed_messages, poller.stats.handler_errors) == (2, 1)
    assert [type(error) for error in errors] == [TimeoutError]


def test_a_function_that_answers_within_its_timeout_is_taken_at_its_word(sqs: Any) -> None:
    url = _queue(sqs, 2)
    clock = FakeClock()

    def in_time(event: dict[str, Any], context: Any) -> dict[str, Any]:
        clock.now += 59.9
        return {"batchItemFailures": []}

    poller = SqsPoller(sqs, url, in_time, batch_size=2, function_timeout=60, clock=clock)
    poller.poll_once(wait_seconds=0)
    assert _left_on_queue(sqs, url) == 0
    assert poller.stats.handler_errors == 0


class Trickle:
    """The SQS client as a slow producer makes it look: the second message is sent after a read found the queue
    empty, within the batching window; every call and pause moves the fake clock."""

    def __init__(self, sqs: Any, url: str, clock: FakeClock) -> None:
        self.sqs, self.url, self.clock = sqs, url, clock
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)

    def receive_message(self, **request: Any) -> dict[str, Any]:
        self.reads += 1
        self.clock.now += 0.1
        answer: dict[str, Any] = self.sqs.receive_message(**request)
        if self.reads == 2:
            self.sqs.send_message(QueueUrl=self.url, MessageBody="a moment later")
        return answer

    def pause(self, seconds: int | float) -> None:
        self.clock.now += seconds


def test_messages_that_arrive_within_the_batching_window_make_one_batch(sqs: Any) -> None:
    # Lambda spends up to MaximumBatchingWindowInSeconds gathering records before it invokes the function: a read
    # that finds the queue empty for a moment does not cut the batch short.
    url = _queue(sqs, 1)
    clock = FakeClock()
    trickle = Trickle(sqs, url, clock)
    recorder = Recorder(lambda ids: None)
    poller = SqsPoller(trickle, url, recorder, batching_window=0.5, clock=clock, pause=trickle.pause)
    assert poller.poll_once(wait_seconds=0) == 2
    assert [len(event["Records"]) for event in recorder.events] == [2]
    assert clock.now - 1000.0 < 1.0  # and no longer than the window (and the reads) took


def test_a_full_batch_does_not_wait_for_the_window(sqs: Any) -> None:
    url = _queue(sqs, 3)
    clock = FakeClock()
    waits: list[float] = []
    poller = SqsPoller(sqs, url, Recorder(lambda ids: None), batch_size=3, batching_window=300, clock=clock)
    poller.pause = waits.append
    assert poller.poll_once(wait_seconds=0) == 3
    assert waits == []

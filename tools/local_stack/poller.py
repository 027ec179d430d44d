"""A local stand-in for Lambda's SQS event source mapping.

It behaves like the real one where pinsync depends on it: batches of up to ``batch_size`` messages gathered
within ``batching_window`` seconds, the Lambda SQS record shape, partial batch responses honoured
(``ReportBatchItemFailures``: only the listed messages stay on the queue), a raised error, an invocation that
outlasts ``function_timeout`` or a malformed response leaves the whole batch on the queue, and failed messages
come back after the visibility timeout until the queue's redrive policy moves them to the dead-letter queue.
"""

from __future__ import annotations

import base64
import json
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from local_stack.handlers import Handler

MAX_RECEIVE = 10  # SQS's ReceiveMessage limit
IDLE_READ_SECONDS = 0.05  # between empty reads within a sub-second remainder of the batching window


@dataclass
class PollerStats:
    invocations: int = 0
    messages: int = 0
    failed_messages: int = 0
    handler_errors: int = 0


class LambdaContext:
    """What the poller passes as ``context``: the fields powertools and pinsync read."""

    def __init__(self, function_name: str, timeout_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


def invocation_error_log(stream: TextIO) -> Callable[[BaseException], None]:
    """An ``on_error`` that writes a failed invocation's error to the function's log, as Lambda's runtime does: "When
    your code raises an error, Lambda generates a JSON representation of the error", in the invocation log
    (https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html)."""

    def log(error: BaseException) -> None:
        entry = {
            "level": "ERROR",
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
        stream.write(json.dumps(entry) + "\n")
        stream.flush()

    return log


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's SQS record carries it: ``stringValue``/``binaryValue`` (base64),
    ``stringListValues``, ``binaryListValues`` and ``dataType``."""
    shaped: dict[str, Any] = {}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = _base64(value["BinaryValue"])
    shaped["stringListValues"] = list(value.get("StringListValues", []))
    shaped["binaryListValues"] = [_base64(item) for item in value.get("BinaryListValues", [])]
    shaped["dataType"] = value["DataType"]
    return shaped


def _reported_failures(answer: Any, message_ids: set[str]) -> set[str]:
    """The messages a partial batch response leaves on the queue, as "Handling errors for an SQS event source in
    Lambda" lists its success and failure conditions
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html): a null or empty response, a null
    or empty ``batchItemFailures`` list, is a complete success; an invalid response, an empty or null
    ``itemIdentifier``, one under another key name or naming a message not in the batch, a complete failure."""
    if answer is None:
        return set()
    if not isinstance(answer, dict):
        return message_ids
    items = answer.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return message_ids
    failures = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return message_ids
        failures.add(identifier)
    return failures


@dataclass
class SqsPoller:
    sqs: Any
    queue_url: str
    handler: Handler
    batch_size: int = 10
    batching_window: float = 0.5
    function_timeout: float = 60.0
    function_name: str = "pinsync-audience-sync"
    stats: PollerStats = field(default_factory=PollerStats)
    on_error: Callable[[BaseException], None] | None = None
    clock: Callable[[], float] = time.monotonic
    pause: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Gather one batch and invoke the handler with it; returns how many messages it carried."""
        messages = self._gather(wait_seconds)
        if not messages:
            return 0
        event = {"Records": [self._record(message) for message in messages]}
        self.stats.invocations += 1
        self.stats.messages += len(messages)
        failed = self._invoke(event, {message["MessageId"] for message in messages})
        self.stats.failed_messages += len(failed)
        done = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE):
            entries = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(done[start : start + MAX_RECEIVE])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return len(messages)

    def _gather(self, wait_seconds: int) -> list[dict[str, Any]]:
        """One batch, gathered as the event source mapping gathers it: once a message is in, Lambda keeps reading
        for up to MaximumBatchingWindowInSeconds ("the maximum amount of time ... that Lambda spends gathering
        records before invoking the function", https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html)
        unless the batch fills first; an empty read within the window does not end it."""
        batch: list[dict[str, Any]] = []
        window_ends = 0.0
        while len(batch) < self.batch_size:
            remaining = window_ends - self.clock()
            if batch and remaining <= 0:
                break
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_RECEIVE, self.batch_size - len(batch)),
                WaitTimeSeconds=min(20, int(remaining)) if batch else wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch and not received:
                return batch
            if not batch:
                window_ends = self.clock() + self.batching_window
            batch.extend(received)
            if not received and remaining < 1:  # SQS long-polls in whole seconds: wait a little between reads
                self.pause(min(IDLE_READ_SECONDS, remaining))
        return batch

    def _invoke(self, event: dict[str, Any], message_ids: set[str]) -> set[str]:
        """Message ids that stay on the queue: the reported failures, or all of them if the invocation failed."""
        context = LambdaContext(self.function_name, self.function_timeout, self.clock)
        started = self.clock()
        try:
            response = self.handler(event, context)
            # Lambda returns the function's result as JSON: one that cannot be serialised fails the invocation.
            answer = json.loads(json.dumps(response))
        except Exception as error:
            return self._failed(error, message_ids)
        if self.clock() - started > self.function_timeout:
            # Lambda stops the invocation at the function's Timeout ("Task timed out"), an error: the batch is not
            # deleted. Locally the function ran to its end; what it answered is ignored, as Lambda never sees it.
            timed_out = TimeoutError(f"Task timed out after {self.function_timeout:.2f} seconds")
            return self._failed(timed_out, message_ids)
        return _reported_failures(answer, message_ids)

    def _failed(self, error: BaseException, message_ids: set[str]) -> set[str]:
        self.stats.handler_errors += 1
        if self.on_error is not None:
            self.on_error(error)
        return message_ids

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record Lambda makes of a received message ("Example standard queue message event",
        https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): message attributes in lower camel case with
        binary values base64-encoded, not as ReceiveMessage returns them, and the queue's own Region."""
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": self._arn.split(":")[3],
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def queue_is_drained(self) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
            == 0
        )

    def run_until_drained(self, timeout: float = 60.0) -> None:
        """Poll until nothing is visible or in flight (failed messages come back, poison ones move to the DLQ)."""
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if self.poll_once(wait_seconds=1) == 0 and self.queue_is_drained():
                return
        raise TimeoutError(f"queue not drained after {timeout:.0f}s")

"""The retry backoff against a real (moto) queue: messages received from SQS, the sync handler as Lambda runs it.

A message that failed transiently is hidden for the schedule's delay of its receive count; a rejected (poison)
message is made visible at once; a visibility change that fails never fails the batch.
"""

from __future__ import annotations

import random
import time
from typing import Any

import boto3
import pytest
from pinsync.sync.runtime import SyncClients
from pinterest_emulator import Fault

from tests.builders import body, profile, sqs_event
from tests.integration.conftest import REGION, SyncFunction

QUEUE_VISIBILITY_SECONDS = 1  # the queue's own timeout: a message left to it is back within a second
SEED = 15


class VisibilityCalls:
    """Every ChangeMessageVisibilityBatch request a client makes (botocore's provide-client-params hook)."""

    def __init__(self, client: Any) -> None:
        self.entries: list[dict[str, Any]] = []
        client.meta.events.register("provide-client-params.sqs.ChangeMessageVisibilityBatch", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.entries.extend(params["Entries"])


@pytest.fixture
def queue(sync_env: SyncFunction) -> str:
    sqs = sync_env.client("sqs")
    url: str = sqs.create_queue(
        QueueName="pinsync-audience", Attributes={"VisibilityTimeout": str(QUEUE_VISIBILITY_SECONDS)}
    )["QueueUrl"]
    return url


def delivered(sqs: Any, queue_url: str, *bodies: str) -> dict[str, Any]:
    """Send the bodies, receive them, and return the Lambda SQS event of that delivery (real receipt handles and
    receive counts)."""
    for item in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=item)
    return received_event(sqs, queue_url)


def received_event(sqs: Any, queue_url: str) -> dict[str, Any]:
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    )
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def failures(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def message_ids(event: dict[str, Any], predicate: Any) -> set[str]:
    return {record["messageId"] for record in event["Records"] if predicate(record["body"])}


def pinterest_down(sync_env: SyncFunction, emulator: Any) -> None:
    """A customer list exists, and every change to it fails with 503s from now on."""
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    emulator.state.inject_fault(Fault(kind="error", status=503, count=1000, method="PATCH"))


TRANSIENT = body(profile({"seg": "realized"}, email="one@example.com"))
POISON = "not json at all"


def test_a_transient_failure_is_hidden_per_the_schedule_and_a_poison_message_is_not(
    sync_env: SyncFunction, emulator: Any, queue: str, waits: list[float]
) -> None:
    clients = SyncClients.create()
    calls = VisibilityCalls(clients.sqs)
    runtime = sync_env.configure(clients=clients, audience_queue_url=queue)
    runtime.rng = random.Random(SEED)
    pinterest_down(sync_env, emulator)
    sqs = sync_env.client("sqs")
    # Given a transient failure (Pinterest down) and a poison message, delivered for the first time
    event = delivered(sqs, queue, TRANSIENT, POISON)
    transient = message_ids(event, lambda item: item == TRANSIENT)
    poison = message_ids(event, lambda item: item == POISON)

    # When the batch is processed
    response = sync_env.invoke(event)

    # Then both are reported for retry: the transient one hidden for the first receive's delay, the poison one
    # visible again at once
    assert failures(response) == transient | poison
    expected = runtime.retry_policy.schedule.delay(1, random.Random(SEED))
    assert 30 <= expected <= 60  # the template's schedule: 60 s ceiling on the first receive, jittered upper half
    handle = {record["messageId"]: record["receiptHandle"] for record in event["Records"]}
    assert sorted((entry["ReceiptHandle"], entry["VisibilityTimeout"]) for entry in calls.entries) == sorted(
        [(handle[next(iter(transient))], expected), (handle[next(iter(poison))], 0)]
    )
    # and on the queue, the poison message is back at once, the transient one is not
    again = received_event(sqs, queue)
    assert {record["messageId"] for record in again["Records"]} == poison
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_later_receive_waits_longer_and_the_last_allowed_keeps_the_queue_timeout(
    sync_env: SyncFunction, emulator: Any, queue: str, waits: list[float]
) -> None:
    clients = SyncClients.create()
    calls = VisibilityCalls(clients.sqs)
    runtime = sync_env.configure(clients=clients, audience_queue_url=queue, max_receive_count=10)
    pinterest_down(sync_env, emulator)
    event = delivered(sync_env.client("sqs"), queue, TRANSIENT)
    # Given the same message on its 9th delivery, then on its 10th (the queue's last)
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "9"
    sync_env.invoke(event)
    assert [entry["VisibilityTimeout"] for entry in calls.entries] == [
        pytest.approx(10800, abs=3600)  # 9th receive: 4-hour cap, jittered over [2 h, 4 h]
    ]
    assert runtime.retry_policy.schedule.floor(9) == 7200
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "10"
    sync_env.invoke(event)
    assert len(calls.entries) == 1  # the 10th is left to the queue's timeout: the dead-letter queue is next


@pytest.mark.parametrize("breakage", ["unknown queue", "call raises"])
def test_a_failed_visibility_change_never_fails_the_batch(
    sync_env: SyncFunction, emulator: Any, queue: str, waits: list[float], log_capture: Any, breakage: str
) -> None:
    clients = SyncClients.create()
    if breakage == "call raises":

        def refuse(**_: Any) -> None:
            raise ConnectionError("sqs unreachable")

        clients.sqs.meta.events.register("before-call.sqs.ChangeMessageVisibilityBatch", refuse)
        url = queue
    else:
        url = queue.replace("pinsync-audience", "no-such-queue")
    sync_env.configure(clients=clients, audience_queue_url=url)
    pinterest_down(sync_env, emulator)
    event = delivered(sync_env.client("sqs"), queue, TRANSIENT, body(profile({"seg": "realized"}, email="b@x.org")))

    # When the visibility change fails
    response = sync_env.invoke(event)

    # Then the batch response is the same as without backoff: the failed messages, nothing raised
    assert failures(response) == {record["messageId"] for record in event["Records"]}
    output = log_capture.getvalue()
    assert "Could not delay the retry of some messages" in output
    for record in event["Records"]:  # no receipt handle (nor message id) in the warning
        assert record["receiptHandle"] not in output
    # and the messages come back after the queue's own timeout
    time.sleep(QUEUE_VISIBILITY_SECONDS + 0.5)
    assert len(received_event(sync_env.client("sqs"), queue)["Records"]) == 2


def test_without_a_queue_url_nothing_is_delayed(
    sync_env: SyncFunction, emulator: Any, queue: str, waits: list[float]
) -> None:
    clients = SyncClients.create()
    calls = VisibilityCalls(clients.sqs)
    sync_env.configure(clients=clients)
    pinterest_down(sync_env, emulator)

    response = sync_env.invoke(delivered(boto3.client("sqs", region_name=REGION), queue, TRANSIENT))

    assert len(failures(response)) == 1
    assert calls.entries == []

"""The automatic redrive of the alert function, on moto: when the dataflow or the token recovers, the dead-lettered
updates that can succeed go back to the audience queue once, the poison ones stay, and an alert says how many."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.builders import body, profile
from tests.integration.test_dataflow_alerts import AlertStack, sample, stack  # noqa: F401 - the fixture

POISON = "{not json"
ERASURE = json.dumps({"privacyRequest": {"type": "erase", "identityMap": {"Email": [{"id": "a@example.com"}]}}})
UPDATE = body(profile({"seg": "realized"}, email="late@example.com"))


def recovered(name: str) -> dict[str, Any]:
    """The OK transition of the alarm in sample ``name``."""
    event = copy.deepcopy(sample(name))
    detail = event["detail"]
    detail["previousState"] = copy.deepcopy(detail["state"])
    detail["state"]["value"] = "OK"
    detail["state"]["reason"] = "Threshold Crossed: back under the threshold."
    return event


def queues(alerts: AlertStack, **overrides: Any) -> tuple[str, str]:
    """A dead-letter queue holding two updates that can succeed and a poison message, and the audience queue."""
    sqs = alerts.client("sqs")
    dlq_url = sqs.create_queue(QueueName="pinsync-audience-dlq")["QueueUrl"]
    queue_url = sqs.create_queue(QueueName="pinsync-audience")["QueueUrl"]
    for message in (UPDATE, POISON, ERASURE):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=message)
    alerts.configure(dead_letter_queue_url=dlq_url, audience_queue_url=queue_url, **overrides)
    return dlq_url, queue_url


def bodies(alerts: AlertStack, url: str) -> list[str]:
    """The bodies on a queue (at most ten), left visible."""
    found = alerts.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(message["Body"] for message in found.get("Messages", []))


@pytest.mark.parametrize(
    "alarm", ["alarm-queue-delay.json", "alarm-sync-errors.json", "alarm-token-rotation-failed.json"]
)
def test_a_recovery_redrives_what_can_succeed_once_and_says_how_many(stack: AlertStack, alarm: str) -> None:  # noqa: F811
    dlq_url, queue_url = queues(stack)
    stack.invoke(sample(alarm))

    summary = stack.invoke(recovered(alarm))

    assert summary["alert_types"] == ["recovered", "dead_letters_redriven"]
    assert bodies(stack, queue_url) == sorted([UPDATE, ERASURE])
    assert bodies(stack, dlq_url) == [POISON]
    [*_, redriven] = stack.published()
    assert redriven["MessageAttributes"]["severity"]["Value"] == "info"
    assert redriven["Subject"] == '[pinsync INFO] 2 dead-lettered update(s) redriven for "pinsync"'
    assert "1 that can never succeed (they break the message contract) stay there" in redriven["Message"]
    assert "late@example.com" not in redriven["Message"] and "not json" not in redriven["Message"]


def test_a_second_recovery_within_the_window_does_not_redrive_again(stack: AlertStack) -> None:  # noqa: F811
    dlq_url, queue_url = queues(stack)
    stack.invoke(sample("alarm-queue-delay.json"))
    stack.invoke(recovered("alarm-queue-delay.json"))
    stack.client("sqs").send_message(QueueUrl=dlq_url, MessageBody=UPDATE)  # dead-lettered again meanwhile

    stack.now += timedelta(minutes=5)
    stack.invoke(sample("alarm-sync-errors.json"))
    summary = stack.invoke(recovered("alarm-sync-errors.json"))

    assert summary["alert_types"] == ["recovered"]
    assert bodies(stack, dlq_url) == sorted([POISON, UPDATE])
    # after the window, the next recovery redrives again
    stack.now += timedelta(minutes=61)
    stack.invoke(sample("alarm-queue-delay.json"))
    assert stack.invoke(recovered("alarm-queue-delay.json"))["alert_types"] == ["recovered", "dead_letters_redriven"]
    assert UPDATE in bodies(stack, queue_url)


@pytest.mark.parametrize(
    ("alarm", "overrides"),
    [
        ("alarm-dead-letter-queue.json", {}),  # a redrive is what clears it: never a trigger
        ("alarm-access-token-expiry.json", {}),  # says nothing about failed updates
        ("alarm-queue-delay.json", {"auto_redrive": "Disabled"}),
    ],
)
def test_no_redrive_for_other_recoveries_or_when_disabled(
    stack: AlertStack,  # noqa: F811
    alarm: str,
    overrides: dict[str, Any],
) -> None:
    dlq_url, queue_url = queues(stack, **overrides)
    stack.invoke(sample(alarm))

    summary = stack.invoke(recovered(alarm))

    assert summary["alert_types"] == ["recovered"]
    assert bodies(stack, queue_url) == [] and len(bodies(stack, dlq_url)) == 3


def test_a_failing_redrive_still_sends_the_recovery(stack: AlertStack) -> None:  # noqa: F811
    queues(stack)
    stack.configure(
        dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/gone", audience_queue_url="x"
    )
    stack.invoke(sample("alarm-queue-delay.json"))

    summary = stack.invoke(recovered("alarm-queue-delay.json"))

    assert summary["alert_types"] == ["recovered"]
    assert [n["MessageAttributes"]["alert_type"]["Value"] for n in stack.published()] == [
        "dataflow_run_delayed",
        "recovered",
    ]


def test_a_message_that_fails_again_after_an_automatic_redrive_is_left_for_a_person(stack: AlertStack) -> None:  # noqa: F811
    dlq_url, queue_url = queues(stack)
    stack.invoke(sample("alarm-queue-delay.json"))
    stack.invoke(recovered("alarm-queue-delay.json"))
    # the redriven messages fail again (the cause was not gone after all) and are dead-lettered with their mark
    sqs = stack.client("sqs")
    moved = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert len(moved) == 2 and all("pinsync_redriven" in m["MessageAttributes"] for m in moved)
    for message in moved:
        attributes = {
            name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
            for name, value in message["MessageAttributes"].items()
        }
        sqs.send_message(QueueUrl=dlq_url, MessageBody=message["Body"], MessageAttributes=attributes)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    stack.now += timedelta(minutes=61)
    stack.invoke(sample("alarm-queue-delay.json"))
    summary = stack.invoke(recovered("alarm-queue-delay.json"))

    # then nothing goes round again: the alert says why they stay
    assert summary["alert_types"] == ["recovered", "dead_letters_redriven"]
    assert bodies(stack, queue_url) == [] and bodies(stack, dlq_url) == sorted([POISON, UPDATE, ERASURE])
    [*_, redriven] = stack.published()
    assert "0 dead-lettered update(s) redriven" in redriven["Subject"]
    assert "2 failed again after an earlier automatic redrive and stay there for a person" in redriven["Message"]


def test_a_message_with_no_room_for_the_mark_is_left_and_said_so(stack: AlertStack) -> None:  # noqa: F811
    """SQS takes ten message attributes: a producer's message that uses them all cannot carry the redrive mark, so
    the automatic redrive leaves it. The alert said it "failed again after an earlier automatic redrive", which sends
    the person looking for a loop that never was."""
    dlq_url, queue_url = queues(stack)
    full = {f"producer_{n}": {"DataType": "String", "StringValue": str(n)} for n in range(10)}
    crowded = body(profile({"seg": "realized"}, email="crowded@example.com"))
    stack.client("sqs").send_message(QueueUrl=dlq_url, MessageBody=crowded, MessageAttributes=full)
    stack.invoke(sample("alarm-queue-delay.json"))

    summary = stack.invoke(recovered("alarm-queue-delay.json"))

    assert summary["alert_types"] == ["recovered", "dead_letters_redriven"]
    assert bodies(stack, queue_url) == sorted([UPDATE, ERASURE])
    assert bodies(stack, dlq_url) == sorted([POISON, crowded])
    [*_, redriven] = stack.published()
    assert "1 carry ten message attributes, which leaves no room for the redrive mark" in redriven["Message"]
    assert "failed again after an earlier automatic redrive" not in redriven["Message"]
    assert "1 that can never succeed" in redriven["Message"]  # the poison one only

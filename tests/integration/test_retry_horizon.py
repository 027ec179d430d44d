"""The retry horizon over simulated hours: a Pinterest outage of most of a day keeps every message out of the
dead-letter queue and applies it after recovery, while a poison message is dead-lettered within minutes.

SQS is simulated on a virtual clock (visibility timeouts, receive counts, the redrive policy's maxReceiveCount) so
that a day passes in a second; everything else is real: the sync handler with the template's retry settings, moto's
DynamoDB and Secrets Manager, and the Pinterest emulator answering 503 for the length of the outage.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from pinsync.core.observability import instrumented
from pinsync.sync.ports import VisibilityChange
from pinsync.sync.settings import SyncSettings
from pinterest_emulator import Fault

from tests.builders import FakeContext, body, profile, sqs_event
from tests.integration.conftest import REGION, SyncFunction

QUEUE_VISIBILITY_SECONDS = 660  # template.yaml's AudienceQueue
DEFAULTS = SyncSettings.model_fields


@dataclass
class Message:
    message_id: str
    body: str
    sent_at: float
    visible_at: float
    receives: int = 0
    receipt_handle: str = ""
    dead_lettered_at: float | None = None


class SimulatedQueue:
    """A standard queue with a redrive policy, on virtual seconds; also the function's ``MessageVisibility`` port."""

    def __init__(self, max_receive_count: int) -> None:
        self.now = 0.0
        self.max_receive_count = max_receive_count
        self.messages: dict[str, Message] = {}
        self.dead_letters: list[Message] = []
        self._ids = itertools.count()

    def send(self, message_body: str) -> str:
        message_id = f"m{next(self._ids)}"
        self.messages[message_id] = Message(message_id, message_body, self.now, self.now)
        return message_id

    def next_visible(self) -> float:
        return min(message.visible_at for message in self.messages.values())

    def receive(self, limit: int = 10) -> list[Message]:
        """What a poll returns now; a message past maxReceiveCount goes to the dead-letter queue instead."""
        batch: list[Message] = []
        for message in sorted(self.messages.values(), key=lambda m: m.visible_at):
            if message.visible_at > self.now or len(batch) == limit:
                continue
            if message.receives >= self.max_receive_count:
                message.dead_lettered_at = self.now
                self.dead_letters.append(self.messages.pop(message.message_id))
                continue
            message.receives += 1
            message.receipt_handle = f"{message.message_id}-{message.receives}"
            message.visible_at = self.now + QUEUE_VISIBILITY_SECONDS
            batch.append(message)
        return batch

    def delete(self, message_id: str) -> None:
        del self.messages[message_id]

    def change(self, changes: Sequence[VisibilityChange]) -> int:
        by_handle = {message.receipt_handle: message for message in self.messages.values()}
        for change in changes:
            by_handle[change.receipt_handle].visible_at = self.now + change.seconds
        return 0


def lambda_event(batch: list[Message], epoch_ms: int) -> dict[str, Any]:
    event = sqs_event(*(message.body for message in batch))
    for record, message in zip(event["Records"], batch, strict=True):
        record["messageId"] = message.message_id
        record["receiptHandle"] = message.receipt_handle
        record["attributes"]["ApproximateReceiveCount"] = str(message.receives)
        record["attributes"]["SentTimestamp"] = str(epoch_ms + int(message.sent_at * 1000))
        record["awsRegion"] = REGION
    return event


def drive(sync_env: SyncFunction, queue: SimulatedQueue, outage_hours: float, emulator: Any) -> None:
    """Poll until the queue is empty; Pinterest refuses every change until the outage ends."""
    runtime = sync_env.configure(audience_queue_url="simulated")  # the template's schedule, MaxReceiveCount, horizon
    runtime = replace(runtime, visibility=queue, rng=random.Random(16))
    handler = instrumented()(runtime.handle)
    epoch_ms = int(sync_env.clock().timestamp() * 1000)
    emulator.state.inject_fault(Fault(kind="error", status=503, count=10**6, method="PATCH"))
    for _ in range(1000):
        if not queue.messages:
            return
        step = max(queue.next_visible() - queue.now, 0.0)
        queue.now += step
        sync_env.elapse(step)
        if queue.now >= outage_hours * 3600:
            emulator.state.clear_faults()
        batch = queue.receive()
        if not batch:
            continue
        response = handler(lambda_event(batch, epoch_ms), FakeContext())
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in batch:
            if message.message_id not in failed:
                queue.delete(message.message_id)
    pytest.fail("the queue did not drain")


def test_an_outage_of_most_of_a_day_dead_letters_nothing_and_a_poison_message_goes_in_minutes(
    sync_env: SyncFunction, emulator: Any, waits: list[float]
) -> None:
    # Given a customer list (made before the outage), three updates and a poison message sent as Pinterest goes down
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    max_receives = DEFAULTS["max_receive_count"].default
    assert max_receives == 20 and DEFAULTS["retry_horizon_hours"].default == 24
    queue = SimulatedQueue(max_receives)
    updates = {queue.send(body(profile({"seg": "realized"}, email=f"p{n}@example.com"))) for n in range(3)}
    poison = queue.send("{not json")

    # When Pinterest refuses every change for 23 hours
    drive(sync_env, queue, outage_hours=23, emulator=emulator)

    # Then the updates were retried past the outage and applied, and only the poison message was dead-lettered
    assert [message.message_id for message in queue.dead_letters] == [poison]
    [customer_list] = emulator.state.customer_lists()
    members = emulator.state.members(customer_list["id"])
    assert len(members) == 4 and updates.isdisjoint(message.message_id for message in queue.dead_letters)
    assert queue.now > 23 * 3600
    # and the poison message was dead-lettered after its deliveries, each back at once: not after 20 x 11 minutes
    [dead] = queue.dead_letters
    assert dead.receives == max_receives and dead.dead_lettered_at is not None and dead.dead_lettered_at < 60


def test_an_outage_longer_than_the_horizon_ends_in_the_dead_letter_queue_for_a_redrive(
    sync_env: SyncFunction, emulator: Any, waits: list[float]
) -> None:
    sync_env.invoke(sqs_event(body(profile({"seg": "realized"}, email="seed@example.com"))))
    queue = SimulatedQueue(DEFAULTS["max_receive_count"].default)
    update = queue.send(body(profile({"seg": "realized"}, email="late@example.com")))

    drive(sync_env, queue, outage_hours=24 * 4, emulator=emulator)

    [dead] = queue.dead_letters
    assert dead.message_id == update and dead.receives == queue.max_receive_count
    # never before the horizon: the schedule's floor guarantees it
    assert queue.now >= timedelta(hours=24).total_seconds()

"""The fault suite's harness: the local stack driven by a generated workload, and the invariant checker.

The invariant, checked at the end of every scenario:

- the audience queue is empty (nothing visible, nothing in flight);
- every message is accounted for: fully applied (each of its changes is what Pinterest holds now, or was
  superseded by a later change of the same person), excluded with a reason (its excluded identities show up
  under that reason in the ``Dataflow Run`` events), or in the dead-letter queue; poison messages, and only
  they (unless a scenario allows otherwise), are in the dead-letter queue;
- for every audience, exactly one customer list exists and the emulator's members equal the expected
  membership, computed from the workload by ``bench.workload`` (not by pinsync).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from typing import Any

from local_stack.handlers import Handler
from local_stack.poller import SqsPoller
from local_stack.stack import DESTINATION_NAME, LocalSettings, LocalStack, local_stack
from pinsync.sync.runtime import SyncClients, SyncRuntime

from bench.workload import GeneratedMessage, Workload
from tests.fakes.dynamodb import AtomicCalls

MAX_WAIT_SECONDS = 0.05  # retry waits are recorded at full length but slept at most this long


class CappedSleep:
    """Records the waits the Pinterest client asks for; sleeps only a little, so scenarios stay short."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.requested.append(seconds)
        time.sleep(min(seconds, MAX_WAIT_SECONDS))


@dataclass
class Sent:
    message: GeneratedMessage
    message_id: str


@dataclass
class Verdicts:
    applied: list[Sent] = field(default_factory=list)
    excluded: list[Sent] = field(default_factory=list)
    dead: list[Sent] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    stack: LocalStack
    sleep: CappedSleep
    runtime: SyncRuntime
    handler: Handler
    sent: list[Sent] = field(default_factory=list)
    pollers: list[SqsPoller] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    handler_errors: list[BaseException] = field(default_factory=list)

    @property
    def sqs(self) -> Any:
        return self.stack.client("sqs")

    def send(self, messages: list[GeneratedMessage]) -> None:
        sqs = self.sqs
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            answer = sqs.send_message_batch(
                QueueUrl=self.stack.queue_url,
                Entries=[{"Id": str(index), "MessageBody": message.body} for index, message in enumerate(chunk)],
            )
            assert not answer.get("Failed"), answer.get("Failed")
            ids = {entry["Id"]: entry["MessageId"] for entry in answer["Successful"]}
            self.sent.extend(Sent(message, ids[str(index)]) for index, message in enumerate(chunk))

    def poller(
        self, *, batch_size: int = 10, batching_window: float = 0.2, handler: Handler | None = None
    ) -> SqsPoller:
        poller = SqsPoller(
            self.stack.client("sqs"),
            self.stack.queue_url,
            handler or self.handler,
            batch_size=batch_size,
            batching_window=batching_window,
            on_error=self.handler_errors.append,
        )
        self.pollers.append(poller)
        return poller

    def drain(self, timeout: float = 40.0, poller: SqsPoller | None = None) -> None:
        if poller is None:
            poller = self.pollers[0] if self.pollers else self.poller()
        poller.run_until_drained(timeout=timeout)

    def collect_runs(self) -> list[dict[str, Any]]:
        sqs = self.sqs
        while batch := sqs.receive_message(QueueUrl=self.stack.runs_queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                event = json.loads(message["Body"])
                if event.get("detail-type") == "Dataflow Run":
                    self.runs.append(event["detail"])
            sqs.delete_message_batch(
                QueueUrl=self.stack.runs_queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return self.runs

    def failed_reasons(self) -> Counter[str]:
        reasons: Counter[str] = Counter()
        for run in self.collect_runs():
            reasons.update(run["identities"]["failed_by_reason"])
        return reasons

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = self.sqs
        found: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=self.stack.dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages"):
            found.extend(batch)
        return found

    def check(self, workload: Workload, *, dead_letters_allowed_for_valid: bool = False) -> Verdicts:
        """Assert the invariant (see the module docstring); return the verdicts for further assertions."""
        for poller in self.pollers:
            assert poller.queue_is_drained(), "the audience queue still holds messages"
        assert self.handler_errors == [], f"the handler raised: {self.handler_errors!r}"
        dead_ids = {message["MessageId"] for message in self.dead_letters()}
        verdicts = Verdicts()
        dead_messages = [sent.message for sent in self.sent if sent.message_id in dead_ids]
        expected = workload.expected_membership(dead=dead_messages)
        state = self.stack.emulator.state
        lists: dict[str, list[dict[str, Any]]] = {}
        for customer_list in state.customer_lists():
            lists.setdefault(customer_list["name"], []).append(customer_list)
        actual: dict[str, set[str]] = {}
        for audience in workload.audiences:
            found = lists.get(f"{DESTINATION_NAME} {audience}", [])
            assert len(found) <= 1, f"{len(found)} customer lists for audience {audience}"
            actual[audience] = state.members(found[0]["id"]) if found else set()
        for audience in workload.audiences:
            missing = len(expected[audience] - actual[audience])
            extra = len(actual[audience] - expected[audience])
            assert (missing, extra) == (0, 0), f"audience {audience}: {missing} members missing, {extra} unexpected"

        excluded_seen: Counter[str] = Counter()
        for run in self.collect_runs():
            excluded_seen.update(run["identities"]["excluded_by_reason"])
        later = _latest_times(workload, dead_messages)
        for sent in self.sent:
            message = sent.message
            if sent.message_id in dead_ids:
                assert message.poison or dead_letters_allowed_for_valid, "a valid message was dead-lettered"
                verdicts.dead.append(sent)
                continue
            if message.poison:
                verdicts.unaccounted.append(f"poison message {sent.message_id} is not in the dead-letter queue")
                continue
            for change in message.changes:
                member = change.record in actual[change.audience]
                superseded = later[(change.audience, change.record)] > change.at
                if member != change.add and not superseded:
                    verdicts.unaccounted.append(
                        f"message {sent.message_id}: a change was neither applied nor superseded"
                    )
                    break
            else:
                if message.exclusions:
                    missing_reasons = [reason for reason in message.exclusions if not excluded_seen[reason]]
                    if missing_reasons:
                        verdicts.unaccounted.append(
                            f"message {sent.message_id}: no exclusion counted for {missing_reasons}"
                        )
                        continue
                    verdicts.excluded.append(sent)
                verdicts.applied.append(sent)
        assert verdicts.unaccounted == []
        expected_exclusions: Counter[str] = Counter()
        for sent in verdicts.applied:
            expected_exclusions.update(sent.message.exclusions)
        for reason, count in expected_exclusions.items():
            # Redeliveries count exclusions again, so the runs report at least what the workload holds.
            assert excluded_seen[reason] >= count, f"excluded {reason}: {excluded_seen[reason]} < {count}"
        return verdicts


def _latest_times(workload: Workload, dead: list[GeneratedMessage]) -> dict[tuple[str, str], Any]:
    skip = {id(message) for message in dead}
    latest: dict[tuple[str, str], Any] = {}
    for message in workload.messages():
        if id(message) in skip:
            continue
        for change in message.changes:
            key = (change.audience, change.record)
            if key not in latest or change.at > latest[key]:
                latest[key] = change.at
    return latest


@contextmanager
def scenario(
    settings: LocalSettings | None = None, *, atomic_dynamodb: bool = False, **sync_settings: Any
) -> Iterator[Scenario]:
    """A fresh local stack, the sync handler as Lambda runs it (with these settings), retry waits capped, function
    output discarded. ``atomic_dynamodb`` serialises the function's DynamoDB calls (see ``AtomicCalls``)."""
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    settings = settings or LocalSettings(max_receive_count=10)
    with local_stack(settings) as stack, open(os.devnull, "w") as sink, redirect_stdout(sink):
        sleep = CappedSleep()
        clients = SyncClients.create(stack.session(), endpoint_url=stack.endpoint_url)
        if atomic_dynamodb:
            clients = replace(clients, dynamodb=AtomicCalls(clients.dynamodb))
        runtime = stack.sync_runtime(sleep=sleep, clients=clients, **sync_settings)
        yield Scenario(stack=stack, sleep=sleep, runtime=runtime, handler=stack.sync_handler(runtime=runtime))


def run_in_threads(*targets: Callable[[], None], timeout: float = 60.0) -> list[BaseException]:
    """Run callables in threads, join them, and return what they raised."""
    errors: list[BaseException] = []

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                errors.append(error)

        return run

    threads = [threading.Thread(target=wrap(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in time"
    return errors

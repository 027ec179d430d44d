"""Benchmark 3 — end to end through the local stack: queue (moto server) → poller → real handler → emulator.

Two figures: throughput (a backlog of messages drained by one poller, identities applied per second) and latency
from ``SendMessage`` to the identity being applied on the (emulated) Pinterest, p50/p99, for messages sent at a
steady pace below capacity. The batching window and batch size are stated with the figures. The emulator records
when each record is applied (instrumented here, bench only); the local stack runs in this one process on loopback,
so the figures show pinsync's overhead and the stack's, not Pinterest's network latency.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
import time
from contextlib import redirect_stdout
from typing import Any

from local_stack.poller import SqsPoller
from local_stack.stack import LocalSettings, local_stack

from bench.workload import generate

BATCH_SIZE = 100
BATCHING_WINDOW = 1.0
AUDIENCES = ("spring", "loyal", "vip")


def _instrument(state: Any, applied_at: dict[str, float]) -> None:
    """Record when each record lands (create or ADD), by wrapping the emulator's state methods."""
    original_create, original_update = state.create_customer_list, state.update_customer_list

    def create(ad_account_id: str, name: str, records: str, list_type: str) -> Any:
        result = original_create(ad_account_id, name, records, list_type)
        now = time.time()
        for record in filter(None, records.split(",")):
            applied_at.setdefault(record, now)
        return result

    def update(ad_account_id: str, list_id: str, operation: str, records: str) -> Any:
        result = original_update(ad_account_id, list_id, operation, records)
        now = time.time()
        for record in filter(None, records.split(",")):
            applied_at.setdefault(record, now)
        return result

    state.create_customer_list, state.update_customer_list = create, update


def _send(sqs: Any, queue_url: str, bodies: list[str]) -> list[float]:
    sent_at: list[float] = []
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
        )
        now = time.time()
        sent_at.extend(now for _ in chunk)
    return sent_at


def _records_by_message(seed: int, people: int, first_person: int = 0) -> tuple[list[str], list[list[str]]]:
    workload = generate(
        seed=seed,
        people=people,
        audiences=AUDIENCES,
        waves=1,
        profiles_per_message=5,
        duplicate_share=0.0,
        excluded_share=0.0,
        first_person=first_person,
    )
    messages = workload.messages()
    return [m.body for m in messages], [[c.record for c in m.changes] for m in messages]


def run(throughput_people: int = 4_000, paced_people: int = 1_000, paced_rate: float = 50.0) -> dict[str, Any]:
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    result: dict[str, Any] = {"batch_size": BATCH_SIZE, "batching_window_s": BATCHING_WINDOW}
    with (
        local_stack(LocalSettings(visibility_timeout=30)) as stack,
        open(os.devnull, "w") as sink,
        redirect_stdout(sink),
    ):
        applied_at: dict[str, float] = {}
        _instrument(stack.emulator.state, applied_at)
        sqs = stack.client("sqs")
        poller = SqsPoller(
            stack.client("sqs"),
            stack.queue_url,
            stack.sync_handler(),
            batch_size=BATCH_SIZE,
            batching_window=BATCHING_WINDOW,
        )
        # Throughput: a backlog drained by one poller
        bodies, _ = _records_by_message(21, throughput_people)
        _send(sqs, stack.queue_url, bodies)
        before = len(applied_at)
        started = time.monotonic()
        poller.run_until_drained(timeout=600)
        elapsed = time.monotonic() - started
        identities = len(applied_at) - before
        result.update(
            throughput_messages=len(bodies),
            throughput_identities=identities,
            throughput_seconds=round(elapsed, 2),
            identities_per_second=round(identities / elapsed),
            invocations=poller.stats.invocations,
        )
        # Latency: a steady stream below capacity, poller running alongside
        bodies, records = _records_by_message(22, paced_people, first_person=10_000_000)
        stop = threading.Event()
        sent_times: list[float] = []

        def produce() -> None:
            producer_sqs = stack.client("sqs")
            interval = 10 / paced_rate
            for start in range(0, len(bodies), 10):
                sent_times.extend(_send(producer_sqs, stack.queue_url, bodies[start : start + 10]))
                time.sleep(interval)  # pacing the producer, not timing a test
            stop.set()

        producer = threading.Thread(target=produce)
        producer.start()
        while not stop.is_set():
            poller.poll_once(wait_seconds=1)
        producer.join()
        poller.run_until_drained(timeout=120)
        latencies = sorted(
            applied_at[record] - sent
            for sent, message_records in zip(sent_times, records, strict=True)
            for record in message_records
            if record in applied_at
        )
        result.update(
            paced_rate_messages_per_s=paced_rate,
            latency_samples=len(latencies),
            latency_p50_s=round(statistics.median(latencies), 3),
            latency_p99_s=round(latencies[int(len(latencies) * 0.99) - 1], 3),
            latency_max_s=round(latencies[-1], 3),
        )
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

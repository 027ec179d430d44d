"""Benchmark 10 — the local ingest door: POSTs of a sample profile from K threads, through the door to moto's queue.

Each thread has its own ``requests.Session`` (keep-alive as a producer would; werkzeug's development server closes
every connection all the same, so each request pays a TCP connect). A 200 is only answered once moto's SQS took the
message, so the figures are the door and the local SQS together, on loopback, in this one process (GIL included):
they say what the local stand-in can take, not what API Gateway can. Throttling is set far above the load so that
it measures the door, not the token bucket; the access log is written as in ``pinsync local up``.

moto's SendMessage walks every message already in the queue (visibility and delay checks), so a queue left to grow
to N messages makes moto the figure (``--keep``: about 60 requests/s at 2000 deep on 2 CPUs). By default a
few consumer threads keep the queue shallow, as the poller of ``pinsync local up`` does: they receive and delete
batches of 10 and check every body is the one sent; every answer must be a 200 and every message received. The
queue depth when the last answer came is reported too. A second run with a sender that answers at once gives the
door alone (HTTP, checks, access log) on the same threads.

    python -m bench.ingest_door [--requests N] [--threads K] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from local_stack.door import DoorServer, ingest_door
from local_stack.paths import EVENTS
from local_stack.stack import local_stack

CONSUMERS = 4  # fewer fall behind 8 producers in this one process, and moto slows down as the queue grows
SAMPLE = EVENTS / "profiles" / "wave-1" / "01-spring-sale-email-and-gaid.json"


def _percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class _Consumer:
    sqs: Any
    queue_url: str
    body: str
    stop: threading.Event = field(default_factory=threading.Event)
    received: int = 0
    identical: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = batch.get("Messages", [])
            if not messages:
                if self.stop.is_set():
                    return
                time.sleep(0.01)
                continue
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            with self.lock:
                self.received += len(messages)
                self.identical += sum(1 for message in messages if message["Body"] == self.body)


def _depth(stack: Any) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@dataclass
class _Load:
    """What K producer threads saw: one latency per request, the statuses, the message ids answered."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    message_ids: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(len(ordered) / self.seconds),
            "latency_p50_ms": round(statistics.median(ordered) * 1000, 1),
            "latency_p99_ms": round(_percentile(ordered, 0.99) * 1000, 1),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "distinct_message_ids": len(self.message_ids),
        }


def _load(door: DoorServer, body: bytes, requests_total: int, threads: int) -> _Load:
    load = _Load()
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {door.credentials.token}", "Content-Type": "application/json"}
    shares = [requests_total // threads + (1 if i < requests_total % threads else 0) for i in range(threads)]
    start = threading.Barrier(threads + 1)

    def producer(count: int) -> None:
        latencies: list[float] = []
        codes: dict[int, int] = {}
        ids: list[str] = []
        with requests.Session() as session:
            start.wait()
            for _ in range(count):
                began = time.perf_counter()
                answer = session.post(door.url, data=body, headers=headers, timeout=30)
                latencies.append(time.perf_counter() - began)
                codes[answer.status_code] = codes.get(answer.status_code, 0) + 1
                if answer.status_code == 200:
                    ids.append(answer.json()["messageId"])
        with lock:
            load.latencies.extend(latencies)
            load.message_ids.update(ids)
            for code, seen in codes.items():
                load.statuses[code] = load.statuses.get(code, 0) + seen

    workers = [threading.Thread(target=producer, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    load.seconds = time.perf_counter() - began
    return load


class _NoQueue:
    """A sender that answers at once: the door alone, HTTP and checks, without moto's SQS."""

    def send(self, body: str) -> str:
        return str(uuid.uuid4())


def run(requests_total: int = 2000, threads: int = 8, keep: bool = False) -> dict[str, Any]:
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    body = SAMPLE.read_bytes()
    with (
        tempfile.TemporaryDirectory() as directory,
        local_stack() as stack,
        ingest_door(stack, rate=1e9, burst=10**9, access_log=Path(directory) / "access.log") as door,
    ):
        assert door is not None
        consumer = _Consumer(stack.client("sqs"), stack.queue_url, body.decode())
        consumers = [threading.Thread(target=consumer.run) for _ in range(0 if keep else CONSUMERS)]
        for thread in consumers:
            thread.start()
        through_sqs = _load(door, body, requests_total, threads)
        depth_at_end = _depth(stack)
        consumer.stop.set()
        for thread in consumers:
            thread.join()
        received = _depth(stack) if keep else consumer.identical
        real_sender = door.app.sender
        door.app.sender = _NoQueue()
        try:
            alone = _load(door, body, requests_total, threads)
        finally:
            door.app.sender = real_sender
    return {
        "requests": requests_total,
        "threads": threads,
        "body_bytes": len(body),
        **through_sqs.figures(),
        "queue": "grown" if keep else f"consumed by {CONSUMERS} threads",
        "queue_depth_at_end": depth_at_end,
        "received_identical": received,
        "all_accepted": through_sqs.statuses.get(200, 0) == requests_total == len(through_sqs.message_ids) == received,
        "door_alone": alone.figures(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="let the queue grow (moto slows down with its depth)")
    args = parser.parse_args()
    result = run(args.requests, args.threads, args.keep)
    print(
        f"ingest door: {result['requests']} POSTs of {result['body_bytes']} bytes from {result['threads']} threads "
        f"in {result['seconds']} s: {result['requests_per_second']} requests/s, "
        f"latency p50 {result['latency_p50_ms']} ms, p99 {result['latency_p99_ms']} ms; "
        f"answers {result['statuses']}, {result['distinct_message_ids']} distinct message ids, "
        f"{result['received_identical']} identical bodies on the queue ({result['queue']})"
    )
    alone = result["door_alone"]
    print(
        f"the door alone (no SQS call): {alone['requests_per_second']} requests/s, "
        f"latency p50 {alone['latency_p50_ms']} ms, p99 {alone['latency_p99_ms']} ms; answers {alone['statuses']}"
    )


if __name__ == "__main__":
    main()

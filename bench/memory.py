"""Benchmark 5 — memory: peak RSS of the sync function for the largest invocation the template allows.

The theoretical maximum, BatchSize 10,000 x 256 KiB messages, is 2.5 GiB of bodies, but Lambda caps what the SQS
event source mapping hands to one invocation at the 6 MB invocation payload limit. So the largest real invocation
is about 6 MB of bodies: measured here as the template's BatchSize (100) messages of ~60 KiB each (arrays of
profiles, the largest message that still lets 100 fit in 6 MB), and, for comparison, 100 small single-profile
messages. The handler runs in a fresh child process (the local stack's moto server and emulator stay in this
process, so they are not counted); peak RSS is the child's ``VmHWM``, what Lambda reports as Max Memory Used. Target: at most half the template's MemorySize (512 MB).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess  # nosec B404 - runs this interpreter on fixed code
import sys
from pathlib import Path
from typing import Any

from local_stack.stack import LocalSettings, local_stack

from bench.workload import generate

REPO_ROOT = Path(__file__).resolve().parents[1]
MEMORY_SIZE_MB = 512
BATCH_SIZE = 100
PAYLOAD_LIMIT = 6 * 1024 * 1024

_CHILD = """
import json, sys, time, uuid
def hwm_kib():
    # VmHWM: peak RSS of this process image (ru_maxrss would include the forked parent's pages before exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
from local_stack.handlers import load_handler
handler = load_handler("audience_sync")
bodies = json.load(open(sys.argv[1]))
baseline = hwm_kib()
event = {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "h", "body": body,
                      "attributes": {"SentTimestamp": str(int(time.time() * 1000))}, "messageAttributes": {},
                      "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                      "awsRegion": "us-east-1"} for body in bodies]}
class Context:
    function_name = "pinsync-audience-sync"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pinsync-audience-sync"
    aws_request_id = str(uuid.uuid4())
    def get_remaining_time_in_millis(self): return 600000
started = time.perf_counter()
response = handler(event, Context())
elapsed = time.perf_counter() - started
peak = hwm_kib()
print("RESULT " + json.dumps({"baseline_kib": baseline, "peak_kib": peak, "seconds": elapsed,
                              "failed": len(response["batchItemFailures"])}))
"""


def batch(profiles_per_message: int, seed: int, first_person: int) -> list[str]:
    workload = generate(
        seed=seed,
        people=BATCH_SIZE * profiles_per_message,
        audiences=("spring", "loyal", "vip"),
        waves=1,
        profiles_per_message=profiles_per_message,
        duplicate_share=0.0,
        excluded_share=0.02,
        first_person=first_person,
    )
    return [message.body for message in workload.messages()][:BATCH_SIZE]


def measure(stack: Any, bodies: list[str], path: Path) -> dict[str, Any]:
    path.write_text(json.dumps(bodies))
    environment = {
        **os.environ,
        **stack.function_environment(),
        "PYTHONPATH": f"{REPO_ROOT / 'layers' / 'common'}:{REPO_ROOT / 'tools'}",
    }
    result = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=REPO_ROOT,
        timeout=600,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    measured: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    peak_mb = measured["peak_kib"] / 1024
    return {
        "messages": len(bodies),
        "batch_mib": round(sum(len(b.encode()) for b in bodies) / 1024 / 1024, 2),
        "largest_message_kib": round(max(len(b.encode()) for b in bodies) / 1024, 1),
        "baseline_rss_mb": round(measured["baseline_kib"] / 1024, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "margin": round(MEMORY_SIZE_MB / peak_mb, 2),
        "invocation_seconds": round(measured["seconds"], 2),
        "failed_messages": measured["failed"],
        "meets_target": MEMORY_SIZE_MB / peak_mb >= 2.0,
    }


def run() -> dict[str, Any]:
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = REPO_ROOT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    # ~250 profiles (about 60 KiB) per message: 100 of them fill the 6 MB payload limit.
    largest = batch(250, seed=31, first_person=0)
    while sum(len(b.encode()) for b in largest) > PAYLOAD_LIMIT:
        largest = largest[:-1]
    small = batch(1, seed=32, first_person=5_000_000)
    results = []
    with local_stack(LocalSettings()) as stack:
        results.append({"case": "6 MB payload limit", **measure(stack, largest, out / "memory-largest.json")})
        results.append({"case": "100 single-profile messages", **measure(stack, small, out / "memory-small.json")})
    return {"memory_size_mb": MEMORY_SIZE_MB, "payload_limit_bytes": PAYLOAD_LIMIT, "results": results}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

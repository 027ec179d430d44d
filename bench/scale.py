"""Benchmark 6 — scale on paper: the initial sync of a 10-million-member audience.

Inputs: the measured figures of this run (transform throughput per core; calls per record from the API efficiency
bench; peak memory) and Pinterest's limits. The write limit is a THIRD-PARTY figure: Amperity's documentation states
writes "at up to 400 calls per minute" under Pinterest Standard access (ads_write; docs.amperity.com, "Pinterest"
destination page); Pinterest's own rate-limit table for ads_write was not available. Records per request: Pinterest documents no
limit; pinsync's default MAX_RECORDS_PER_REQUEST is 1,000 (emulator-verified only). The per-call latency of a
1,000-record PATCH on the real API is an ASSUMPTION (no live account): 0.5 s. Lambda price: arm64, 0.0000133334 USD
per GB-s (AWS list price, us-east-1, at the time of writing) plus 0.20 USD per million requests.
"""

from __future__ import annotations

import json
import math
from typing import Any

MEMBERS = 10_000_000
WRITE_CALLS_PER_MINUTE = 400  # third-party figure (Amperity), Standard access, per user per app
RECORDS_PER_REQUEST = 1_000
ASSUMED_CALL_SECONDS = 0.5
MEMORY_GB = 0.5  # template MemorySize 512
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_MILLION_REQUESTS = 0.20
PROFILES_PER_MESSAGE = 10  # a producer batching its initial export; 1 per message also shown below
BATCH_SIZE = 100


def run(measured: dict[str, Any] | None = None) -> dict[str, Any]:
    measured = measured or {}
    identities_per_cpu_second = measured.get("transform", {}).get("full_identities_per_second", 100_000)
    efficiency = 1.0
    for result in measured.get("api_efficiency", {}).get("results", []):
        if result["scenario"] == "steady state":
            efficiency = result["ratio"]
    calls = math.ceil(MEMBERS / RECORDS_PER_REQUEST * efficiency)
    minutes_at_limit = calls / WRITE_CALLS_PER_MINUTE
    # Concurrency: each invocation sends its calls one after another, so one invocation makes at most
    # 60 / ASSUMED_CALL_SECONDS calls a minute; enough invocations to reach the limit, no more.
    calls_per_invocation_minute = 60 / ASSUMED_CALL_SECONDS
    concurrency = math.ceil(WRITE_CALLS_PER_MINUTE / calls_per_invocation_minute)
    # Batch size: a batch must carry >= RECORDS_PER_REQUEST changes per (list, operation) to fill its requests.
    messages_needed_per_batch = math.ceil(RECORDS_PER_REQUEST / PROFILES_PER_MESSAGE)
    invocations = math.ceil(MEMBERS / (BATCH_SIZE * PROFILES_PER_MESSAGE))
    cpu_seconds = MEMBERS / identities_per_cpu_second
    # Billed duration: waiting on Pinterest dominates; add the domain CPU (at 0.5 GB Lambda gives ~1/3.5 vCPU,
    # so the measured single-core throughput is stretched accordingly).
    vcpu_share = MEMORY_GB * 1024 / 1769
    billed_seconds = calls * ASSUMED_CALL_SECONDS + cpu_seconds / vcpu_share
    gb_seconds = billed_seconds * MEMORY_GB
    cost = gb_seconds * PRICE_PER_GB_SECOND + invocations / 1e6 * PRICE_PER_MILLION_REQUESTS
    return {
        "members": MEMBERS,
        "records_per_request": RECORDS_PER_REQUEST,
        "write_calls_per_minute": WRITE_CALLS_PER_MINUTE,
        "pinterest_calls": calls,
        "minutes_at_rate_limit": round(minutes_at_limit, 1),
        "maximum_concurrency_needed": concurrency,
        "template_maximum_concurrency_default": 5,
        "batch_size": BATCH_SIZE,
        "profiles_per_message": PROFILES_PER_MESSAGE,
        "messages_per_batch_to_fill_a_request": messages_needed_per_batch,
        "invocations": invocations,
        "domain_cpu_seconds": round(cpu_seconds, 1),
        "billed_seconds": round(billed_seconds),
        "gb_seconds": round(gb_seconds),
        "cost_usd": round(cost, 3),
        "single_profile_messages": {
            "batch_size_to_fill_a_request": RECORDS_PER_REQUEST,
            "note": "with one profile per message, BatchSize 1000 (window >= 1 s) fills a 1,000-record request; "
            "BatchSize 100 sends 100-record requests: 10x the calls, 250 minutes at 400 calls/min",
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

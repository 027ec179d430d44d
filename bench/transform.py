"""Benchmark 1 — transform cost: the full domain path against a floor measured in the same run.

Full path: parse the message body (pydantic contract), resolve / validate / normalise / hash every identity,
build the Changes, coalesce the batch, plan requests. Floor: ``json.loads`` of the same bodies plus SHA-256 of the
same identities (lowercased). Both over 100,000 generated profiles (10 profiles per message, about 1.5 identities
per profile, 1-2 audiences each), best of several runs. Target: full path within 2x of the floor. Also reported:
the parsing stage alone (``parse_body``) against the same floor, to show what is left for the rest of the path.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import json
import pstats
import time
from datetime import UTC, datetime
from typing import Any

from pinsync.sync.contract import parse_body
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map
from pinsync.sync.membership import ActivationRule, Extraction, coalesce, extract_changes
from pinsync.sync.planning import plan

from bench.workload import generate

PROFILES = 100_000
PER_MESSAGE = 10
AUDIENCES = ("spring", "loyal", "vip", "churn")
REPEATS = 3
# As deployed (SyncSettings.profile_key_namespaces default): one more SHA-256 per profile, for the ledger's key.
PROFILE_NAMESPACES = ("ECID", "Email", "Email_LC_SHA256", "GAID", "IDFA")


def bodies(profiles: int = PROFILES) -> list[str]:
    workload = generate(
        seed=11,
        people=profiles,
        audiences=AUDIENCES,
        waves=1,
        profiles_per_message=PER_MESSAGE,
        duplicate_share=0.0,
        excluded_share=0.02,
    )
    return [message.body for message in workload.messages()]


def identities_of(body: str) -> list[str]:
    document: Any = json.loads(body)
    return [value["id"] for profile in document for values in profile["identityMap"].values() for value in values]


def floor(all_bodies: list[str]) -> int:
    hashed = 0
    for body in all_bodies:
        document = json.loads(body)
        for profile in document:
            for values in profile["identityMap"].values():
                for value in values:
                    hashlib.sha256(value["id"].lower().encode("utf-8")).hexdigest()
                    hashed += 1
    return hashed


def parse_only(all_bodies: list[str]) -> int:
    """The first stage of the full path alone: pydantic's validation of the contract, straight from the JSON text."""
    return sum(len(parse_body(body)) for body in all_bodies)


def full_path(all_bodies: list[str], batch: int = 100) -> int:
    namespaces = parse_namespace_map(DEFAULT_NAMESPACES)
    activation = ActivationRule.parse("*")
    list_ids = {audience: f"list-{audience}" for audience in AUDIENCES}
    sent_at = datetime(2026, 11, 28, tzinfo=UTC)
    requests = 0
    for start in range(0, len(all_bodies), batch):  # one Lambda batch (BatchSize 100) at a time
        extraction = Extraction()
        for index, body in enumerate(all_bodies[start : start + batch]):
            for profile in parse_body(body):
                extract_changes(
                    profile,
                    message_id=str(start + index),
                    fallback_time=sent_at,
                    activation=activation,
                    namespaces=namespaces,
                    extraction=extraction,
                    profile_namespaces=PROFILE_NAMESPACES,
                )
        requests += len(plan(coalesce(extraction.changes).changes, list_ids, 1000).requests)
    return requests


def _best(function: Any, argument: Any) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        function(argument)
        timings.append(time.perf_counter() - started)
    return min(timings)


def profile_full_path(all_bodies: list[str], top: int = 12) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    full_path(all_bodies[: len(all_bodies) // 5])
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


def run() -> dict[str, Any]:
    all_bodies = bodies()
    identities = sum(len(identities_of(body)) for body in all_bodies)
    floor_seconds = _best(floor, all_bodies)
    parse_seconds = _best(parse_only, all_bodies)
    full_seconds = _best(full_path, all_bodies)
    ratio = full_seconds / floor_seconds
    result: dict[str, Any] = {
        "profiles": PROFILES,
        "messages": len(all_bodies),
        "identities": identities,
        "floor_seconds": round(floor_seconds, 3),
        "parse_seconds": round(parse_seconds, 3),
        "full_seconds": round(full_seconds, 3),
        "floor_identities_per_second": round(identities / floor_seconds),
        "full_identities_per_second": round(identities / full_seconds),
        "full_profiles_per_second": round(PROFILES / full_seconds),
        "ratio": round(ratio, 2),
        "parse_ratio": round(parse_seconds / floor_seconds, 2),
        "target": "<= 2.0",
        "meets_target": ratio <= 2.0,
    }
    if ratio > 2.0:
        result["profile"] = profile_full_path(all_bodies)
    return result


if __name__ == "__main__":
    print(json.dumps({k: v for k, v in run().items() if k != "profile"}, indent=2))

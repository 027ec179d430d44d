"""Benchmark 2 — API efficiency: Pinterest calls made versus the fewest the per-request limit allows.

100,000 membership changes (adds of new people, and removes of people added earlier, so every change is one
Pinterest must see) over four audiences, in 100 Lambda batches of 100 messages x 10 profiles (BatchSize 100).
The real use case (``AudienceSync``) and the real HTTP client run against the Pinterest emulator; the mapping
store and the ledger are in memory (their DynamoDB cost is not what this measures). Lists exist before the run
(steady state). Minimum per batch = ``pinsync.sync.planning.minimum_requests`` over that batch's per-(list, operation)
record counts, computed from the workload, not from pinsync's plan. Also run under a 429 storm and under 5xx
faults, where retries add calls: the ratio then says how much they cost. Transiently failed messages are invoked
again (as SQS would redeliver them) until none fail.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.pinterest_oauth import StaticToken
from pinsync.core.deadline import Deadline
from pinsync.core.observability import NO_METRICS
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map
from pinsync.sync.membership import ActivationRule
from pinsync.sync.planning import minimum_requests
from pinsync.sync.service import AudienceSync, InboundMessage, SyncOptions
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer, Fault

from bench.workload import BASE_TIME, email_of, iso, sha256_hex
from tests.fakes.ledger import InMemoryLedger
from tests.fakes.mappings import FakeMappings

AUDIENCES = ("spring", "loyal", "vip", "churn")
BATCHES = 100
MESSAGES_PER_BATCH = 100
PROFILES_PER_MESSAGE = 10
MAX_RECORDS = 1000
PROFILE_NAMESPACES = ("ECID", "Email", "Email_LC_SHA256", "GAID", "IDFA")


def workload(seed: int = 7) -> tuple[list[list[str]], list[int], dict[str, set[str]]]:
    """Batches of bodies, the per-batch minimum, and the expected final membership (hashes) per audience."""
    rng = random.Random(seed)  # noqa: S311 - workload generation
    members: dict[str, list[int]] = {audience: [] for audience in AUDIENCES}
    next_person = 0
    batches: list[list[str]] = []
    minima: list[int] = []
    for batch_index in range(BATCHES):
        at = BASE_TIME + timedelta(minutes=batch_index)
        counts: Counter[tuple[str, str]] = Counter()
        bodies = []
        for _ in range(MESSAGES_PER_BATCH):
            profiles = []
            for _ in range(PROFILES_PER_MESSAGE):
                audience = rng.choice(AUDIENCES)
                remove = batch_index > 0 and members[audience] and rng.random() < 0.4
                if remove:
                    person = members[audience].pop(rng.randrange(len(members[audience])))
                    status = "exited"
                else:
                    person, next_person = next_person, next_person + 1
                    members[audience].append(person)
                    status = "realized"
                counts[(audience, status)] += 1
                profiles.append(
                    {
                        "segmentMembership": {"ups": {audience: {"status": status, "lastQualificationTime": iso(at)}}},
                        "identityMap": {"Email": [{"id": email_of(person)}]},
                    }
                )
            bodies.append(json.dumps(profiles))
        batches.append(bodies)
        minima.append(minimum_requests(counts.values(), MAX_RECORDS))
    expected = {a: {sha256_hex(email_of(p).lower()) for p in people} for a, people in members.items()}
    return batches, minima, expected


def _sync(
    base_url: str, mappings: FakeMappings, ledger: InMemoryLedger, session: requests.Session, token: str
) -> AudienceSync:
    options = SyncOptions(
        activation=ActivationRule.parse("*"),
        namespaces=parse_namespace_map(DEFAULT_NAMESPACES),
        max_records=MAX_RECORDS,
        destination_name="bench",
        creation_lease=timedelta(minutes=5),
        profile_namespaces=PROFILE_NAMESPACES,
    )
    deadline = Deadline.after(60.0)
    client = PinterestClient(
        base_url=base_url,
        ad_account_id=DEFAULT_AD_ACCOUNT_ID,
        tokens=StaticToken(token),
        session=session,
        deadline=deadline,
        sleep=lambda _seconds: None,  # waits are not what this measures
        metrics=NO_METRICS,
    )
    return AudienceSync(
        options, client, mappings, clock=lambda: datetime.now(UTC), owner="bench", deadline=deadline, ledger=ledger
    )


def _writes(server: EmulatorServer) -> int:
    return sum(
        1 for e in server.state.requests_log if e["method"] in ("POST", "PATCH") and "/customer_lists" in e["path"]
    )


def scenario(name: str, faults: list[Fault] | None = None, every: int = 10) -> dict[str, Any]:
    batches, minima, expected = workload()
    server = EmulatorServer().start()
    try:
        token = server.state.mint_tokens()["access_token"]
        mappings, ledger, session = FakeMappings(), InMemoryLedger(), requests.Session()
        # Steady state: lists and audiences exist before the measured run
        warm = [
            json.dumps(
                {
                    "segmentMembership": {
                        "ups": {a: {"status": "realized", "lastQualificationTime": iso(BASE_TIME - timedelta(days=1))}}
                    },
                    "identityMap": {"Email": [{"id": f"warmup-{a}@example.com"}]},
                }
            )
            for a in AUDIENCES
        ]
        _sync(server.base_url, mappings, ledger, session, token).run(
            [InboundMessage(f"w{i}", body, BASE_TIME) for i, body in enumerate(warm)]
        )
        for a in AUDIENCES:
            expected[a].add(sha256_hex(f"warmup-{a}@example.com"))
        server.state.clear_requests_log()
        calls = redeliveries = 0
        for index, bodies in enumerate(batches):
            if faults and index % every == 0:
                for fault in faults:
                    server.state.inject_fault(Fault(**{**fault.to_dict(), "id": 0}))
            pending = [InboundMessage(f"{index}-{i}", body, BASE_TIME) for i, body in enumerate(bodies)]
            for _attempt in range(10):
                before = len(server.state.requests_log)
                outcome = _sync(server.base_url, mappings, ledger, session, token).run(pending)
                calls += len(server.state.requests_log) - before
                failed = outcome.failed_message_ids_set()
                pending = [message for message in pending if message.message_id in failed]
                if not pending:
                    break
                redeliveries += 1
            server.state.clear_requests_log()
        lists = {item["name"].split(" ", 1)[1]: item["id"] for item in server.state.customer_lists()}
        correct = all(server.state.members(lists[a]) == expected[a] for a in AUDIENCES)
    finally:
        server.stop()
    minimum = sum(minima)
    changes = BATCHES * MESSAGES_PER_BATCH * PROFILES_PER_MESSAGE
    return {
        "scenario": name,
        "changes": changes,
        "calls": calls,
        "minimum": minimum,
        "ratio": round(calls / minimum, 3),
        "redelivered_batches": redeliveries,
        "final_membership_correct": correct,
    }


def run() -> dict[str, Any]:
    results = [
        scenario("steady state"),
        scenario("429 storm (3 x 429 every 10th batch)", [Fault(kind="rate_limit", count=3, reset_seconds=1)]),
        scenario("5xx faults (3 x 503 every 10th batch)", [Fault(kind="error", count=3, status=503)]),
    ]
    return {"max_records_per_request": MAX_RECORDS, "batches": BATCHES, "results": results}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

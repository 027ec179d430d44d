"""Benchmark 7 — the membership ledger's cost per 10,000 changes: DynamoDB calls and time.

What the sync path does for 10,000 changes, through :class:`pinsync.adapters.dynamo_ledger.DynamoLedger` against moto
in-process: read the entries of the changes (``BatchGetItem``, 100 keys a call), read the identifiers held by the
exiting profiles (one ``Query`` per exiting profile), and write the applied changes (``BatchWriteItem``, 25 items a
call: the entry, plus the profile link). Three workloads: all new members (initial sync: 1,000 profiles of 10
identifiers), a mix (9,000 adds of new members, and 100 exiting profiles whose one exit each expands to their 10 held
identifiers: 1,000 removes), and the same mix redelivered (every change already applied: reads only, nothing
written). Calls are exact; time is moto's (its Query scans the whole table, about 0.2 s each here), so it only
bounds the client-side cost: DynamoDB itself answers each call in ~5-10 ms.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from local_stack.stack import create_state_table
from moto import mock_aws
from pinsync.adapters.dynamo_ledger import DynamoLedger
from pinsync.sync.identities import sha256_hex
from pinsync.sync.ledger import against_ledger, entries_for, exit_profiles, expand_exits
from pinsync.sync.membership import Change, Operation

CHANGES = 10_000
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _changes(
    count: int, *, offset: int, operation: Operation, minutes: int, identities_per_profile: int = 10
) -> list[Change]:
    return [
        Change(
            audience_id="bench",
            record=sha256_hex(f"person{index}@example.com"),
            operation=operation,
            qualified_at=START + timedelta(minutes=minutes),
            sequence=index,
            message_ids=frozenset({f"m{index // 10}"}),
            profile_key=sha256_hex(f"ecid:{index // identities_per_profile}"),
        )
        for index in range(offset, offset + count)
    ]


def _measure(ledger: DynamoLedger, changes: list[Change]) -> dict[str, Any]:
    ledger.calls = 0
    started = time.perf_counter()
    expanded = expand_exits(changes, ledger.held_by_profiles(exit_profiles(changes)))
    decision = against_ledger(expanded, ledger.entries((c.audience_id, c.record) for c in expanded))
    ledger.record(entries_for(decision.apply))
    seconds = time.perf_counter() - started
    return {
        "changes": len(expanded),
        "applied": len(decision.apply),
        "unchanged": len(decision.unchanged),
        "dynamodb_calls": ledger.calls,
        "seconds": round(seconds, 2),
    }


def run() -> dict[str, Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
        create_state_table(client)
        ledger = DynamoLedger(client, "pinsync-state", sleep=lambda _: None)
        initial = _measure(ledger, _changes(CHANGES, offset=0, operation=Operation.ADD, minutes=0))
        mixed_changes = _changes(9_000, offset=CHANGES, operation=Operation.ADD, minutes=5)
        # one exit per profile for the first 100 profiles: each expands to the 10 identifiers the ledger holds
        mixed_changes += _changes(1_000, offset=0, operation=Operation.REMOVE, minutes=5)[::10]
        mixed = _measure(ledger, mixed_changes)
        redelivered = _measure(ledger, mixed_changes)
    return {"initial_sync": initial, "mixed": mixed, "redelivered": redelivered}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

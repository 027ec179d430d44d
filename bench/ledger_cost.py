"""Benchmark 7 — the membership ledger's cost per 10,000 changes: DynamoDB calls, items, write and read units.

The real :class:`pinsync.sync.service.AudienceSync` runs the workloads in invocations of 100 messages (the template's
``BatchSize`` default), one profile per message, with the real :class:`pinsync.adapters.dynamo_ledger.DynamoLedger`
and :class:`pinsync.adapters.dynamo_mappings.DynamoMappingStore` (the writer lease) on moto in-process; Pinterest is
an in-memory fake that accepts everything (its calls are benchmark 2's subject, not this one's). Every DynamoDB call
goes through a meter that counts calls per operation and, from the items sent and returned, the capacity units
DynamoDB bills: 1 write unit per 1 KB of an item written, 1 read unit per 4 KB of an item read consistently, item
sizes per https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html (attribute
names plus values). The writer lease's two UpdateItem calls per audience and invocation are counted apart.

Workloads (10,000 changes each, one audience, run in order on the same table):

- ``initial_10_per_profile``: 1,000 new profiles of 10 emails each (the same shape as the earlier figure);
- ``initial_1_per_profile``: 10,000 new profiles with one email each, the usual CDP export (ECID + email);
- ``mixed``: 9,000 adds of 900 new profiles, and 100 profiles of the first workload exiting (1,000 removes);
- ``steady``: 500 profiles of the first workload exit (5,000 removes), 500 re-qualify with a newer time (5,000
  unchanged: recorded, not sent);
- ``redelivered``: the mixed workload delivered again (everything unchanged, nothing written).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import batched
from typing import Any

import boto3
from local_stack.stack import create_state_table
from moto import mock_aws
from pinsync.adapters.dynamo_ledger import DynamoLedger
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.core.deadline import Deadline
from pinsync.sync.identities import DEFAULT_NAMESPACES, parse_namespace_map
from pinsync.sync.membership import ActivationRule
from pinsync.sync.planning import AudienceMapping, MappingState
from pinsync.sync.service import AudienceSync, InboundMessage, SyncOptions

from tests.builders import body, profile
from tests.fakes.dynamodb import CountingCalls
from tests.fakes.pinterest import FakePinterest

AUDIENCE = "bench"
TABLE = "pinsync-state"
BATCH_SIZE = 100
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


class MeteredClient(CountingCalls):
    """A boto3 DynamoDB client that counts calls and the capacity units its items cost."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.items_written = 0
        self.write_units = 0
        self.read_units = 0

    def observe(self, operation: str, params: dict[str, Any], response: Any) -> None:
        if operation == "batch_write_item":
            for requests in params["RequestItems"].values():
                for request in requests:
                    self.items_written += 1
                    self.write_units += math.ceil(billed_size(request["PutRequest"]["Item"]) / 1024)
        elif operation == "batch_get_item":
            for items in response.get("Responses", {}).values():
                self.read_units += sum(math.ceil(billed_size(item) / 4096) for item in items)

    def reset(self) -> None:
        self.calls.clear()
        self.items_written = self.write_units = self.read_units = 0


def billed_size(item: dict[str, Any], binary_length: Callable[[Any], int] = len) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (numbers: about 1 byte per 2 digits + 1).
    ``binary_length`` measures a B value: ``len`` of boto3's bytes, or the decoded length of the wire's base64."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        [(kind, data)] = value.items()
        if kind == "S":
            total += len(data.encode())
        elif kind == "B":
            total += binary_length(data)
        elif kind == "N":
            total += len(data.lstrip("-").replace(".", "")) // 2 + 1
        else:  # BOOL, NULL
            total += 1
    return total


def _message(number: int, emails: list[str], status: str, minute: int) -> str:
    at = (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    return body(profile({AUDIENCE: status}, email=emails, extra_identities={"ECID": [f"ecid-{number}"]}, at=at))


def _profiles(first: int, count: int, per_profile: int, status: str, minute: int) -> list[str]:
    return [
        _message(n, [f"p{n}.{i}@example.com" for i in range(per_profile)], status, minute)
        for n in range(first, first + count)
    ]


def _run(client: MeteredClient, bodies: list[str], clock: list[datetime]) -> dict[str, Any]:
    """Deliver ``bodies`` in invocations of BATCH_SIZE; the figures of the whole workload."""
    client.reset()
    ledger = DynamoLedger(client, TABLE, sleep=lambda _seconds: None)
    mappings = DynamoMappingStore(client, TABLE)
    pinterest = FakePinterest(lists={"77": set()})
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    for number, batch in enumerate(batched(bodies, BATCH_SIZE)):
        clock[0] += timedelta(seconds=1)
        sync = AudienceSync(
            SyncOptions(
                activation=ActivationRule.parse("*"),
                namespaces=parse_namespace_map(DEFAULT_NAMESPACES),
                max_records=1000,
                destination_name="bench",
                creation_lease=timedelta(minutes=5),
                profile_namespaces=("ECID", "Email"),
            ),
            pinterest,
            _ReadyMapping(mappings),
            clock=lambda: clock[0],
            owner=f"invocation-{number}",
            deadline=Deadline(lambda: 900.0),
            ledger=ledger,
        )
        outcome = sync.run([InboundMessage(f"m{i}", text, clock[0]) for i, text in enumerate(batch)])
        counts["applied"] += outcome.activated
        counts["unchanged"] += outcome.skipped.get("unchanged", 0)
        counts["failed"] += sum(outcome.failed.values())
    seconds = time.perf_counter() - started
    lease_calls = client.calls["update_item"]
    ledger_calls = sum(client.calls.values()) - lease_calls
    applied = counts["applied"]
    return {
        "applied": applied,
        "unchanged": counts["unchanged"],
        "failed": counts["failed"],
        "dynamodb_calls": ledger_calls,
        "calls_by_operation": {name: count for name, count in client.calls.items() if name != "update_item"},
        # UpdateItem: the writer lease (2 per audience and invocation) and, once per warm container, the LISTED index
        "lease_and_index_calls": lease_calls,
        "items_written": client.items_written,
        "write_units": client.write_units,
        "read_units": client.read_units,
        "write_units_per_applied_change": round(client.write_units / applied, 3) if applied else None,
        "seconds": round(seconds, 2),
    }


class _ReadyMapping:
    """The mapping store with the audience's list already made (benchmark 7 measures the ledger, not creation)."""

    def __init__(self, store: DynamoMappingStore) -> None:
        self._store = store

    def get_mappings(self, audience_ids: Any) -> dict[str, AudienceMapping]:
        return {AUDIENCE: AudienceMapping(AUDIENCE, MappingState.READY, "77", "9")}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def run() -> dict[str, Any]:
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
        create_state_table(raw)
        client = MeteredClient(raw)
        clock = [START + timedelta(days=1)]
        results = {
            "initial_10_per_profile": _run(client, _profiles(0, 1000, 10, "realized", 0), clock),
            "initial_1_per_profile": _run(client, _profiles(100_000, 10_000, 1, "realized", 0), clock),
        }
        mixed = _profiles(1000, 900, 10, "realized", 5) + _profiles(0, 100, 10, "exited", 5)
        results["mixed"] = _run(client, mixed, clock)
        steady = _profiles(100, 500, 10, "exited", 10) + _profiles(600, 400, 10, "realized", 10)
        steady += _profiles(1000, 100, 10, "realized", 10)
        results["steady"] = _run(client, steady, clock)
        results["redelivered"] = _run(client, mixed, clock)
    applied = sum(figures["applied"] for figures in results.values())
    units = sum(figures["write_units"] for figures in results.values())
    return {**results, "overall": {"applied": applied, "write_units": units, "per_applied": round(units / applied, 3)}}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

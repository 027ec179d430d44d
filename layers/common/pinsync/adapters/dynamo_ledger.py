"""The membership ledger in the DynamoDB state table.

Items (table keys ``pk`` / ``sk``)::

    ledger entry   pk = "LEDGER#<audience id>#<first hex char of the record>", sk = "<record>"
                   member (BOOL), qualified_at (ISO 8601), profile (hashed profile key, optional), updated_at,
                   expires_at (epoch seconds, only while out: removed members expire by TTL)
    profile link   pk = "PROFILE#<audience id>#<profile key>", sk = "<record>"  (present while the record is in)

Sixteen ledger partitions per audience keep a big initial sync off a single hot partition key while an audience's
whole ledger stays readable with sixteen queries (for ``pinsync reconcile``). Reads and writes are batched:
``BatchGetItem`` (100 keys) and ``BatchWriteItem`` (25 items), with unprocessed items retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import batched
from typing import Any

from pinsync.sync.ledger import LedgerEntry, LedgerKey

SHARDS = "0123456789abcdef"
_GET_LIMIT = 100
_WRITE_LIMIT = 25
_MAX_UNPROCESSED_ROUNDS = 8


def ledger_key(audience_id: str, record: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"LEDGER#{audience_id}#{record[:1]}"}, "sk": {"S": record}}


def profile_partition(audience_id: str, profile_key: str) -> str:
    return f"PROFILE#{audience_id}#{profile_key}"


class DynamoLedger:
    """:class:`pinsync.sync.ledger.MembershipLedger` on DynamoDB (low-level client). Counts its calls for benchmarks."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        retention: timedelta = timedelta(days=90),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention
        self._clock = clock
        self._sleep = sleep
        self.calls = 0

    def entries(self, keys: Iterable[LedgerKey]) -> dict[LedgerKey, LedgerEntry]:
        unique = sorted(set(keys))
        found: dict[LedgerKey, LedgerEntry] = {}
        for start in range(0, len(unique), _GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [ledger_key(a, r) for a, r in unique[start : start + _GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            for rounds in range(_MAX_UNPROCESSED_ROUNDS):
                self.calls += 1
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    entry = _entry(item)
                    found[entry.key] = entry
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**rounds)
            else:
                raise RuntimeError("DynamoDB kept ledger reads unprocessed")
        return found

    def held_by_profiles(self, profiles: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        held: dict[tuple[str, str], list[str]] = {}
        for audience_id, profile_key in sorted(set(profiles)):
            records = [item["sk"]["S"] for item in self._query(profile_partition(audience_id, profile_key))]
            if records:
                held[(audience_id, profile_key)] = records
        return held

    def members(self, audience_id: str) -> set[str]:
        """Records the ledger holds as in the audience (16 queries; for reconcile, not the sync path)."""
        return {
            item["sk"]["S"]
            for shard in SHARDS
            for item in self._query(f"LEDGER#{audience_id}#{shard}")
            if item.get("member", {}).get("BOOL")
        }

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        """Write entries 25 requests at a time, built as they are sent (a big batch never sits in memory twice)."""
        for batch in batched(self._write_requests(entries), _WRITE_LIMIT):
            self._write(list(batch))

    def _write_requests(self, entries: Iterable[LedgerEntry]) -> Iterator[dict[str, Any]]:
        now = self._clock()
        expires = str(int((now + self._retention).timestamp()))
        for entry in entries:
            item: dict[str, Any] = {
                **ledger_key(entry.audience_id, entry.record),
                "member": {"BOOL": entry.member},
                "qualified_at": {"S": entry.qualified_at.astimezone(UTC).isoformat()},
                "updated_at": {"S": now.isoformat()},
            }
            if entry.profile_key:
                item["profile"] = {"S": entry.profile_key}
            if not entry.member:
                item["expires_at"] = {"N": expires}
            yield {"PutRequest": {"Item": item}}
            if entry.profile_key:
                link = {"pk": {"S": profile_partition(entry.audience_id, entry.profile_key)}, "sk": {"S": entry.record}}
                yield {"PutRequest": {"Item": link}} if entry.member else {"DeleteRequest": {"Key": link}}

    def _write(self, batch: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {self._table: batch}
        for rounds in range(_MAX_UNPROCESSED_ROUNDS):
            self.calls += 1
            request = self._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return
            self._sleep(0.05 * 2**rounds)
        raise RuntimeError("DynamoDB kept ledger writes unprocessed")

    def _query(self, partition: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
        }
        while True:
            self.calls += 1
            page = self._client.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _entry(item: dict[str, Any]) -> LedgerEntry:
    audience_id = item["pk"]["S"].removeprefix("LEDGER#").rsplit("#", 1)[0]
    profile = item.get("profile", {}).get("S")
    return LedgerEntry(
        audience_id=audience_id,
        record=item["sk"]["S"],
        member=bool(item.get("member", {}).get("BOOL")),
        qualified_at=datetime.fromisoformat(item["qualified_at"]["S"]),
        profile_key=profile,
    )

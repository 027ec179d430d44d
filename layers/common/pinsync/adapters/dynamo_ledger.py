"""The membership ledger in the DynamoDB state table.

One item per (audience, key), the key being a profile key, a record, or both (``pinsync.sync.ledger.LedgerItem``)::

    pk = "LEDGER#<audience id>#<first hex char of the key>", sk = "<key>"
    entries     B: per record, 41 bytes: its 32-byte digest, the event time (int64 microseconds since the epoch, big
                endian) and flags: 1 member, 2 uncertain, 4 linked (the profile added it: its exits remove it),
                8 link only (no state through this profile); absent when none
    exited_at   ISO 8601, the profile's last exit
    shared      BOOL, only when true
    owners      B: the 32-byte digests of the profiles holding an entry for this record (its index)
    expires_at  epoch seconds, DynamoDB TTL: set on an item with no entry in the audience and no owners (a profile
                whose records are all out); such items expire after the retention

Few attributes on purpose: botocore serialises every attribute value of every item, and that is most of the sync
function's CPU (bench/handler_cost.py).

Sixteen partitions per audience keep a big initial sync off one hot partition key, while an audience's whole ledger
stays readable with sixteen queries (``pinsync reconcile``). Reads are ``BatchGetItem`` (100 keys, consistent), writes
``BatchWriteItem`` (25 puts), unprocessed items retried. A write puts the whole item: the sync use case writes what it
read, updated, under the audience's writer lease (no other invocation writes the audience's items meanwhile).

Items of the earlier layout (one per record: ``member``, ``qualified_at``, ``profile``) read as the record's own
entry; the profile links of that layout (``PROFILE#`` items) are not read, so an exit processed after the upgrade
removes the records its message carries and those linked since.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import batched
from typing import Any

from pinsync.sync.ledger import Entry, LedgerItem, members

SHARDS = "0123456789abcdef"
_GET_LIMIT = 100
_WRITE_LIMIT = 25
_MAX_UNPROCESSED_ROUNDS = 8
_DIGEST = 32
_ENTRY_LAYOUT = struct.Struct(">32sqB")
_ENTRY = _ENTRY_LAYOUT.size
_MEMBER, _UNCERTAIN, _LINKED, _LINK_ONLY = 1, 2, 4, 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ledger_key(audience_id: str, key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"LEDGER#{audience_id}#{key[:1]}"}, "sk": {"S": key}}


class DynamoLedger:
    """:class:`pinsync.sync.ports.MembershipLedger` on DynamoDB (low-level client). Counts its calls for benchmarks."""

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

    def read(self, audience_id: str, keys: Collection[str]) -> dict[str, LedgerItem]:
        unique = sorted(set(keys))
        found: dict[str, LedgerItem] = {}
        for chunk in batched(unique, _GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {"Keys": [ledger_key(audience_id, key) for key in chunk], "ConsistentRead": True}
            }
            for rounds in range(_MAX_UNPROCESSED_ROUNDS):
                self.calls += 1
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    decoded = _decode(item)
                    found[decoded.key] = decoded
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**rounds)
            else:
                raise RuntimeError("DynamoDB kept ledger reads unprocessed")
        return found

    def write(self, audience_id: str, items: Sequence[LedgerItem]) -> None:
        """Put the items, 25 per call, encoded as they are sent (a big batch never sits in memory twice)."""
        expires = str(int((self._clock() + self._retention).timestamp()))
        requests = ({"PutRequest": {"Item": _encode(audience_id, item, expires)}} for item in items)
        for batch in batched(requests, _WRITE_LIMIT):
            self._write(list(batch))

    def members(self, audience_id: str) -> set[str]:
        """Records the ledger holds as in the audience (16 queries; for reconcile, not the sync path)."""
        return members(_decode(item) for shard in SHARDS for item in self._query(f"LEDGER#{audience_id}#{shard}"))

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


def _encode(audience_id: str, item: LedgerItem, expires: str) -> dict[str, Any]:
    encoded: dict[str, Any] = ledger_key(audience_id, item.key)
    entries, links = item.entries, item.links
    if entries or links:
        encoded["entries"] = {
            "B": b"".join(
                _entry(record, entries.get(record), linked=record in links) for record in sorted({*entries, *links})
            )
        }
    if item.exited_at is not None:
        encoded["exited_at"] = {"S": _iso(item.exited_at)}
    if item.shared:
        encoded["shared"] = {"BOOL": True}
    if item.owners:
        encoded["owners"] = {"B": _digests(item.owners)}
    if not item.owners and not any(entry.member for entry in entries.values()):
        encoded["expires_at"] = {"N": expires}
    return encoded


def _decode(item: dict[str, Any]) -> LedgerItem:
    key = item["sk"]["S"]
    if "qualified_at" in item:  # the earlier layout: the record's own entry
        entry = Entry(member=bool(item.get("member", {}).get("BOOL")), qualified_at=_time(item["qualified_at"]["S"]))
        return LedgerItem(key, entries={key: entry})
    packed = bytes(item.get("entries", {}).get("B", b""))
    entries = {}
    links = set()
    for start in range(0, len(packed), _ENTRY):
        digest, micros, flags = _ENTRY_LAYOUT.unpack_from(packed, start)
        record = digest.hex()
        if flags & _LINKED:
            links.add(record)
        if not flags & _LINK_ONLY:
            entries[record] = Entry(
                member=bool(flags & _MEMBER),
                qualified_at=_EPOCH + timedelta(microseconds=micros),
                uncertain=bool(flags & _UNCERTAIN),
            )
    exited = item.get("exited_at", {}).get("S")
    return LedgerItem(
        key,
        entries=entries,
        links=frozenset(links),
        exited_at=_time(exited) if exited else None,
        shared=bool(item.get("shared", {}).get("BOOL")),
        owners=_split(item.get("owners", {}).get("B", b"")),
    )


def _entry(record: str, entry: Entry | None, *, linked: bool) -> bytes:
    flags = _LINKED if linked else 0
    if entry is None:
        return _ENTRY_LAYOUT.pack(bytes.fromhex(record), 0, flags | _LINK_ONLY)
    micros = (entry.qualified_at - _EPOCH) // timedelta(microseconds=1)
    flags |= (_MEMBER if entry.member else 0) | (_UNCERTAIN if entry.uncertain else 0)
    return _ENTRY_LAYOUT.pack(bytes.fromhex(record), micros, flags)


def _digests(keys: frozenset[str]) -> bytes:
    return b"".join(bytes.fromhex(key) for key in sorted(keys))


def _split(packed: bytes) -> frozenset[str]:
    packed = bytes(packed)
    return frozenset(packed[start : start + _DIGEST].hex() for start in range(0, len(packed), _DIGEST))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()

"""The audiences' HEALTH items in the DynamoDB state table, written by the health function, read by it and the CLI.

Item layout (table keys ``pk`` / ``sk``)::

    pk = "AUDIENCE#<audience id>", sk = "HEALTH"
    state                   ok | too_small | missing | unreadable
    first_seen_at           ISO 8601: the first check that saw the audience mapped (its first add, near enough)
    checked_at              ISO 8601: the latest check
    size, size_at           the Pinterest audience's size and when it was read (absent: no audience, or unread)
    previous_size, previous_size_at   the last size known before the latest check
    audience_status, customer_list_status, uploaded_records, removed_records, missing (string set), reason

Counts, statuses and times only: no Pinterest id, no identifier. One put per audience and check.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, cast

from pinsync.events import AudienceHealthState
from pinsync.health.model import HealthRecord, Missing

HEALTH_SK = "HEALTH"
_BATCH_GET_LIMIT = 100


def health_key(audience_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"AUDIENCE#{audience_id}"}, "sk": {"S": HEALTH_SK}}


class DynamoHealthStore:
    """The :class:`pinsync.health.ports.HealthStore` port on the state table (low-level client)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get_many(self, audience_ids: Collection[str]) -> dict[str, HealthRecord]:
        ids = sorted(set(audience_ids))
        found: dict[str, HealthRecord] = {}
        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            keys = [health_key(audience_id) for audience_id in ids[start : start + _BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    record = record_of(item)
                    found[record.audience_id] = record
                request = response.get("UnprocessedKeys") or {}
        return found

    def put(self, record: HealthRecord) -> None:
        self._client.put_item(TableName=self._table, Item=item_of(record))

    def all_records(self) -> list[HealthRecord]:
        """Every HEALTH item (a scan: for the operator CLI, not a function)."""
        records: list[HealthRecord] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :prefix) AND sk = :sk",
            "ExpressionAttributeValues": {":prefix": {"S": "AUDIENCE#"}, ":sk": {"S": HEALTH_SK}},
        }
        while True:
            page = self._client.scan(**request)
            records.extend(record_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(records, key=lambda record: record.audience_id)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def item_of(record: HealthRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **health_key(record.audience_id),
        "state": {"S": record.state.value},
        "first_seen_at": {"S": _iso(record.first_seen_at)},
        "checked_at": {"S": _iso(record.checked_at)},
    }
    optional: dict[str, object] = {
        "size": record.size,
        "size_at": record.size_at,
        "previous_size": record.previous_size,
        "previous_size_at": record.previous_size_at,
        "audience_status": record.audience_status,
        "customer_list_status": record.customer_list_status,
        "uploaded_records": record.uploaded_records,
        "removed_records": record.removed_records,
        "reason": record.reason,
    }
    for name, value in optional.items():
        if isinstance(value, datetime):
            item[name] = {"S": _iso(value)}
        elif isinstance(value, int):
            item[name] = {"N": str(value)}
        elif isinstance(value, str):
            item[name] = {"S": value}
    if record.missing:
        item["missing"] = {"SS": sorted(record.missing)}
    return item


def record_of(item: dict[str, Any]) -> HealthRecord:
    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value and "S" in value else None

    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value and "N" in value else None

    def moment(name: str) -> datetime | None:
        value = text(name)
        return datetime.fromisoformat(value) if value else None

    checked_at = moment("checked_at") or datetime.fromtimestamp(0, UTC)
    return HealthRecord(
        audience_id=(text("pk") or "").removeprefix("AUDIENCE#"),
        first_seen_at=moment("first_seen_at") or checked_at,
        checked_at=checked_at,
        state=AudienceHealthState(text("state") or AudienceHealthState.UNREADABLE.value),
        size=number("size"),
        size_at=moment("size_at"),
        previous_size=number("previous_size"),
        previous_size_at=moment("previous_size_at"),
        audience_status=text("audience_status"),
        customer_list_status=text("customer_list_status"),
        uploaded_records=number("uploaded_records"),
        removed_records=number("removed_records"),
        missing=cast(tuple[Missing, ...], tuple(sorted(item.get("missing", {}).get("SS", [])))),
        reason=text("reason"),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()

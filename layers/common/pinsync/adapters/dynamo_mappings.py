"""The DynamoDB state table: audience → customer list mappings and the creation lease.

Item layout (table keys ``pk`` / ``sk``)::

    pk = "AUDIENCE#<audience id>", sk = "MAPPING"
    state                   CREATING | LIST_CREATED | READY
    customer_list_id        Pinterest customer list id (absent until created or linked)
    pinterest_audience_id   Pinterest CUSTOMER_LIST audience id (absent until created)
    name                    optional operator-chosen name for the list and audience
    lease_owner             request id of the invocation creating the list (absent when free)
    lease_expires_at        epoch seconds; an expired lease may be taken over
    updated_at              ISO 8601

An operator links an audience to an existing customer list by writing ``state = READY`` and
``customer_list_id`` (see :meth:`DynamoMappingStore.link`).

Activations (``pinsync audiences activate``) live in one item, read once per invocation::

    pk = "ACTIVATIONS", sk = "INDEX", audience_ids = string set of activated audience ids

When that item exists it takes precedence over ``ACTIVATED_AUDIENCES`` (an empty set, stored as the absent
attribute, then means "nothing is activated").

The audiences that have (or had) a customer list, where a consent denial or an erasure must look, in one item::

    pk = "AUDIENCES", sk = "LISTED", audience_ids = string set

added to when a list is recorded or linked, and by the sync function for any mapped audience it meets that is not
in it yet (once per audience and warm container: lists of an earlier version join as soon as they are synced).

The audience's writer lease (one invocation at a time decides and sends for an audience) is one more item::

    pk = "AUDIENCE#<audience id>", sk = "WRITER"
    lease_owner, lease_expires_at (epoch seconds), lease_settling (BOOL: the owner is done but holds the audience
    while a request that failed ambiguously may still land), expires_at (TTL, a day after the lease)
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from pinsync.adapters.dynamodb import condition_failed
from pinsync.core.errors import LinkRefusedError
from pinsync.sync.planning import AudienceMapping, MappingState
from pinsync.sync.ports import WriterHeld

MAPPING_SK = "MAPPING"
WRITER_SK = "WRITER"
# A writer lease item expires (DynamoDB TTL) this long after its lease: long gone, it only costs space.
WRITER_GARBAGE_AFTER = timedelta(days=1)
ACTIVATIONS_KEY = {"pk": "ACTIVATIONS", "sk": "INDEX"}
LISTED_KEY = {"pk": "AUDIENCES", "sk": "LISTED"}
_BATCH_GET_LIMIT = 100


def audience_key(audience_id: str) -> dict[str, str]:
    return {"pk": f"AUDIENCE#{audience_id}", "sk": MAPPING_SK}


def writer_key(audience_id: str) -> dict[str, str]:
    return {"pk": f"AUDIENCE#{audience_id}", "sk": WRITER_SK}


class DynamoMappingStore:
    """The :class:`pinsync.sync.ports.MappingStore` port on a DynamoDB table (low-level client)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._noted: set[str] = set()  # audiences this instance knows to be in the LISTED item

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]:
        ids = sorted(set(audience_ids))
        found: dict[str, AudienceMapping] = {}
        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            keys = [_typed(audience_key(audience_id)) for audience_id in ids[start : start + _BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    mapping = _mapping(item)
                    found[mapping.audience_id] = mapping
                request = response.get("UnprocessedKeys") or {}
        return found

    def claim_creation(self, audience_id: str, owner: str, now: datetime, lease: timedelta, *, name: str) -> str | None:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=_typed(audience_key(audience_id)),
                UpdateExpression="SET #state = :creating, lease_owner = :owner, lease_expires_at = :expires, "
                "updated_at = :now, #name = if_not_exists(#name, :name)",
                ConditionExpression="attribute_not_exists(customer_list_id) AND (attribute_not_exists(lease_owner) "
                "OR lease_owner = :owner OR lease_expires_at < :epoch)",
                ExpressionAttributeNames={"#state": "state", "#name": "name"},
                ExpressionAttributeValues={
                    ":creating": {"S": MappingState.CREATING.value},
                    ":owner": {"S": owner},
                    ":expires": {"N": str(int((now + lease).timestamp()))},
                    ":epoch": {"N": str(int(now.timestamp()))},
                    ":now": {"S": now.astimezone(UTC).isoformat()},
                    ":name": {"S": name},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if condition_failed(error):
                return None
            raise
        return str(answer.get("Attributes", {}).get("name", {}).get("S") or name)

    def listed_audiences(self) -> frozenset[str]:
        item = self._client.get_item(TableName=self._table, Key=_typed(LISTED_KEY), ConsistentRead=True).get("Item")
        return frozenset(item.get("audience_ids", {}).get("SS", [])) if item is not None else frozenset()

    def note_listed(self, audience_ids: Collection[str]) -> None:
        new = set(audience_ids) - self._noted
        if not new:
            return
        self._client.update_item(
            TableName=self._table,
            Key=_typed(LISTED_KEY),
            UpdateExpression="ADD audience_ids :ids",
            ExpressionAttributeValues={":ids": {"SS": sorted(new)}},
        )
        self._noted |= new

    def record_customer_list(self, audience_id: str, customer_list_id: str, owner: str) -> None:
        self.note_listed([audience_id])  # first: a list recorded but not listed would escape an erasure
        self._client.update_item(
            TableName=self._table,
            Key=_typed(audience_key(audience_id)),
            UpdateExpression="SET #state = :state, customer_list_id = :list, updated_at = :now "
            "REMOVE lease_owner, lease_expires_at",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":state": {"S": MappingState.LIST_CREATED.value},
                ":list": {"S": customer_list_id},
                ":now": {"S": _now()},
            },
        )

    def record_audience(self, audience_id: str, pinterest_audience_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=_typed(audience_key(audience_id)),
            UpdateExpression="SET #state = :state, pinterest_audience_id = :audience, updated_at = :now",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":state": {"S": MappingState.READY.value},
                ":audience": {"S": pinterest_audience_id},
                ":now": {"S": _now()},
            },
        )

    def release_claim(self, audience_id: str, owner: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_typed(audience_key(audience_id)),
                UpdateExpression="REMOVE lease_owner, lease_expires_at",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise

    # -- the audience's writer lease ---------------------------------------------------------------------------------

    def acquire_writer(self, audience_id: str, owner: str, now: datetime, until: datetime) -> WriterHeld | None:
        """Take the audience's writer lease until ``until`` unless another owner holds an unexpired one."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_typed(writer_key(audience_id)),
                UpdateExpression=(
                    "SET lease_owner = :owner, lease_expires_at = :until, expires_at = :gc REMOVE lease_settling"
                ),
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_owner = :owner OR lease_expires_at < :now",
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": _epoch(until)},
                    ":now": {"N": _epoch(now)},
                    ":gc": {"N": _epoch(until + WRITER_GARBAGE_AFTER)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            held = error.response.get("Item", {})
            return WriterHeld(
                until=datetime.fromtimestamp(float(held.get("lease_expires_at", {}).get("N", "0")), UTC),
                settling=bool(held.get("lease_settling", {}).get("BOOL")),
            )
        return None

    def release_writer(self, audience_id: str, owner: str, until: datetime, *, settling: bool = False) -> None:
        """Let the lease end at ``until``: now, or later (``settling``) to hold the audience while a request that
        failed ambiguously may still land at Pinterest. Nothing happens if another owner took it over meanwhile."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_typed(writer_key(audience_id)),
                UpdateExpression="SET lease_expires_at = :until, lease_settling = :settling",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": _epoch(until)},
                    ":settling": {"BOOL": settling},
                },
            )
        except ClientError as error:
            if not condition_failed(error):
                raise

    def activations(self) -> frozenset[str] | None:
        """Activated audience ids, or None when no activation was ever recorded (use the configuration)."""
        item = self._client.get_item(TableName=self._table, Key=_typed(ACTIVATIONS_KEY), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None
        return frozenset(item.get("audience_ids", {}).get("SS", []))

    def activate(self, audience_id: str, *, name: str | None = None, customer_list_id: str | None = None) -> None:
        """Record an activation: optionally the list/audience name to create, or an existing list to link."""
        if customer_list_id:
            self.link(audience_id, customer_list_id, name=name)
        elif name:
            self._client.update_item(
                TableName=self._table,
                Key=_typed(audience_key(audience_id)),
                UpdateExpression="SET #name = :name, updated_at = :now",
                ExpressionAttributeNames={"#name": "name"},
                ExpressionAttributeValues={":name": {"S": name}, ":now": {"S": _now()}},
            )
        self._client.update_item(
            TableName=self._table,
            Key=_typed(ACTIVATIONS_KEY),
            UpdateExpression="ADD audience_ids :ids SET updated_at = :now",
            ExpressionAttributeValues={":ids": {"SS": [audience_id]}, ":now": {"S": _now()}},
        )

    def deactivate(self, audience_id: str) -> None:
        """Stop syncing an audience (its list and mapping stay; activating again resumes)."""
        self._client.update_item(
            TableName=self._table,
            Key=_typed(ACTIVATIONS_KEY),
            UpdateExpression="DELETE audience_ids :ids SET updated_at = :now",
            ExpressionAttributeValues={":ids": {"SS": [audience_id]}, ":now": {"S": _now()}},
        )

    def all_mappings(self) -> list[AudienceMapping]:
        """Every audience mapping (a scan: for the operator CLI, not the sync path)."""
        mappings: list[AudienceMapping] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :prefix) AND sk = :sk",
            "ExpressionAttributeValues": {":prefix": {"S": "AUDIENCE#"}, ":sk": {"S": MAPPING_SK}},
        }
        while True:
            page = self._client.scan(**request)
            mappings.extend(_mapping(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(mappings, key=lambda mapping: mapping.audience_id)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def link(self, audience_id: str, customer_list_id: str, *, name: str | None = None) -> None:
        """Map an audience to an existing customer list instead of letting pinsync create one.

        An update, not a put: the Pinterest audience (when the list stays the same) and the name are kept. Refused
        with :class:`LinkRefusedError` while a sync invocation holds the creation lease: it would record its own
        new list over this one.
        """
        now = datetime.now(UTC)
        current = self.get_mappings([audience_id]).get(audience_id)
        names = {"#state": "state"}
        values = {
            ":state": {"S": MappingState.READY.value},
            ":list": {"S": customer_list_id},
            ":now": {"S": now.isoformat()},
            ":epoch": {"N": str(int(now.timestamp()))},
        }
        assignments = ["#state = :state", "customer_list_id = :list", "updated_at = :now"]
        if name:
            names["#name"] = "name"
            values[":name"] = {"S": name}
            assignments.append("#name = :name")
        expression = "SET " + ", ".join(assignments)
        if current is None or current.customer_list_id != customer_list_id:
            expression += " REMOVE pinterest_audience_id"  # that audience is another list's
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_typed(audience_key(audience_id)),
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_expires_at < :epoch",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if condition_failed(error):
                raise LinkRefusedError(audience_id) from None
            raise
        self.note_listed([audience_id])


def _typed(item: dict[str, str]) -> dict[str, dict[str, str]]:
    return {key: {"S": value} for key, value in item.items()}


def _mapping(item: dict[str, Any]) -> AudienceMapping:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value and "S" in value else None

    audience_id = (text("pk") or "").removeprefix("AUDIENCE#")
    state = text("state") or MappingState.CREATING.value
    customer_list_id = text("customer_list_id")
    return AudienceMapping(
        audience_id=audience_id,
        state=MappingState(state),
        customer_list_id=customer_list_id,
        pinterest_audience_id=text("pinterest_audience_id"),
        name=text("name"),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _epoch(moment: datetime) -> str:
    return f"{moment.timestamp():.3f}"

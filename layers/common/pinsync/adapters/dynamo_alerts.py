"""Open alerts in the DynamoDB state table, so an alert is not repeated within its suppression window.

Item layout (table keys ``pk`` / ``sk``)::

    pk = "ALERT#<alert key>", sk = "OPEN"
    alert_type, severity, title   what was sent (names and types only)
    opened_at                     ISO 8601, when the problem was first reported (kept across repeats)
    last_sent_at                  ISO 8601
    sent_count                    how many times it was sent
    suppress_until                epoch seconds; until then the same key is not sent again
    expires_at                    epoch seconds, the table's TTL attribute (window + retention)

Opening is one conditional write (``attribute_not_exists(pk) OR suppress_until <= :now``), so of two concurrent
invocations handling the same alert exactly one is told to send it. A recovery deletes the item and returns it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pinsync.adapters.dynamodb import condition_failed
from pinsync.alerts.model import OpenAlert

OPEN_SK = "OPEN"


def alert_key(key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"ALERT#{key}"}, "sk": {"S": OPEN_SK}}


class DynamoAlertState:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def try_open(self, alert: OpenAlert, now: datetime) -> bool:
        """Record the alert as sent; False when the same key is still inside its suppression window."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=alert_key(alert.key),
                UpdateExpression=(
                    "SET alert_type = :type, severity = :severity, title = :title, "
                    "opened_at = if_not_exists(opened_at, :opened), last_sent_at = :now, "
                    "sent_count = if_not_exists(sent_count, :zero) + :one, "
                    "suppress_until = :until, expires_at = :expires"
                ),
                ConditionExpression="attribute_not_exists(pk) OR suppress_until <= :epoch",
                ExpressionAttributeValues={
                    **_alert_values(alert),
                    ":now": {"S": _iso(now)},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":epoch": {"N": str(int(now.timestamp()))},
                },
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def reopen_window(self, key: str) -> None:
        """Undo :meth:`try_open` when the alert could not be published, so the retried event sends it."""
        self._client.update_item(
            TableName=self._table,
            Key=alert_key(key),
            UpdateExpression="SET suppress_until = :zero",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    def get(self, key: str) -> OpenAlert | None:
        item = self._client.get_item(TableName=self._table, Key=alert_key(key), ConsistentRead=True).get("Item")
        return _open_alert(key, item) if item else None

    def clear(self, key: str) -> OpenAlert | None:
        """Delete the open alert (it recovered); return what was open, or None if nothing was."""
        old = self._client.delete_item(TableName=self._table, Key=alert_key(key), ReturnValues="ALL_OLD")
        item = old.get("Attributes")
        return _open_alert(key, item) if item else None

    def restore(self, alert: OpenAlert) -> None:
        """Put back what :meth:`clear` deleted, unless the key was opened again since. An UpdateItem that creates the
        item, so the function's role needs no PutItem."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=alert_key(alert.key),
                UpdateExpression=(
                    "SET alert_type = :type, severity = :severity, title = :title, opened_at = :opened, "
                    "suppress_until = :until, expires_at = :expires"
                ),
                ConditionExpression="attribute_not_exists(pk)",
                ExpressionAttributeValues=_alert_values(alert),
            )
        except ClientError as error:
            if not condition_failed(error):
                raise


def _alert_values(alert: OpenAlert) -> dict[str, dict[str, str]]:
    """The expression values of what an open alert item holds (:type, :severity, :title, :opened, :until, :expires)."""
    return {
        ":type": {"S": alert.alert_type},
        ":severity": {"S": alert.severity},
        ":title": {"S": alert.title},
        ":opened": {"S": _iso(alert.opened_at)},
        ":until": {"N": str(int(alert.suppress_until.timestamp()))},
        ":expires": {"N": str(int(alert.expires_at.timestamp()))},
    }


def _open_alert(key: str, item: dict[str, Any]) -> OpenAlert:
    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    opened = text("opened_at")
    return OpenAlert(
        key=key,
        alert_type=text("alert_type"),
        severity=text("severity"),
        title=text("title"),
        opened_at=datetime.fromisoformat(opened) if opened else datetime.now(UTC),
        suppress_until=datetime.fromtimestamp(int(item.get("suppress_until", {}).get("N", "0")), UTC),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()

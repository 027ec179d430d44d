"""The latest audience health check as the CLI shows it (`pinsync status`, `pinsync audiences`): the HEALTH items the
health function writes to the state table (pinsync.adapters.dynamo_health). Counts, statuses and times only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pinsync.events import AudienceHealthState
from pinsync.health.model import HealthRecord

_NOTES = {
    AudienceHealthState.OK: "",
    AudienceHealthState.TOO_SMALL: "under Pinterest's 100 minimum",
    AudienceHealthState.MISSING: "deleted on Pinterest: link a list again (`pinsync audiences activate ID "
    "--customer-list-id ... --force`)",
    AudienceHealthState.UNREADABLE: "Pinterest could not be read at the last check",
}


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%MZ")


def summary(record: HealthRecord) -> str:
    """``too_small, size 42 (was 40), checked 2026-11-28 06:00Z``"""
    parts = [record.state.value]
    if record.missing:
        parts.append("missing " + " and ".join(part.replace("_", " ") for part in record.missing))
    if record.size is not None:
        was = f" (was {record.previous_size})" if record.previous_size is not None else ""
        parts.append(f"size {record.size}{was}")
    if record.reason:
        parts.append(record.reason)
    parts.append(f"checked {when(record.checked_at)}")
    return ", ".join(parts)


def note(record: HealthRecord) -> str:
    return _NOTES[record.state]


def as_json(record: HealthRecord) -> dict[str, Any]:
    return {
        "state": record.state.value,
        "checked_at": record.checked_at.isoformat(),
        "first_seen_at": record.first_seen_at.isoformat(),
        "size": record.size,
        "previous_size": record.previous_size,
        "previous_size_at": record.previous_size_at.isoformat() if record.previous_size_at else None,
        "audience_status": record.audience_status,
        "customer_list_status": record.customer_list_status,
        "uploaded_records": record.uploaded_records,
        "removed_records": record.removed_records,
        "missing": list(record.missing),
        "reason": record.reason,
    }

"""What a health check sees and remembers, and the pure decision of what changed: no boto3, no HTTP, no clock.

A check reads, for each audience that has a customer list, the list (and the Pinterest audience, once created) and
turns it into an :class:`Observation`; :func:`assess` combines it with the audience's previous :class:`HealthRecord`
(the ``HEALTH`` item) into the new record: its state, the size now and the last size known before, and the time the
check first saw the audience (the mapping stores no creation time, so the first check that sees it mapped stands for
its first add). The alert function decides from these facts (``pinsync.alerts.health``) with its own thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pinsync.events import PINTEREST_MIN_AUDIENCE_SIZE, AudienceHealthFacts, AudienceHealthState

Missing = Literal["customer_list", "audience"]


@dataclass(frozen=True)
class Observation:
    """What Pinterest answered for one audience in this check (no Pinterest id kept)."""

    audience_id: str
    customer_list_status: str | None = None
    uploaded_records: int | None = None
    removed_records: int | None = None
    size: int | None = None
    audience_status: str | None = None
    missing: tuple[Missing, ...] = ()
    unreadable: str | None = None  # the failure reason when Pinterest could not be read


@dataclass(frozen=True)
class HealthRecord:
    """The ``AUDIENCE#<id>`` / ``HEALTH`` item: the latest check of one audience and what it remembers of the ones
    before. ``size_at`` is when ``size`` was read; ``previous_size`` is the last size known before this check."""

    audience_id: str
    first_seen_at: datetime
    checked_at: datetime
    state: AudienceHealthState
    size: int | None = None
    size_at: datetime | None = None
    previous_size: int | None = None
    previous_size_at: datetime | None = None
    audience_status: str | None = None
    customer_list_status: str | None = None
    uploaded_records: int | None = None
    removed_records: int | None = None
    missing: tuple[Missing, ...] = ()
    reason: str | None = None

    def facts(self) -> AudienceHealthFacts:
        return AudienceHealthFacts(
            audience_id=self.audience_id,
            state=self.state,
            size=self.size,
            audience_status=self.audience_status,
            customer_list_status=self.customer_list_status,
            uploaded_records=self.uploaded_records,
            removed_records=self.removed_records,
            missing=list(self.missing),
            first_seen_at=self.first_seen_at,
            previous_size=self.previous_size,
            previous_checked_at=self.previous_size_at,
            reason=self.reason,
        )


def state_of(observation: Observation, min_size: int = PINTEREST_MIN_AUDIENCE_SIZE) -> AudienceHealthState:
    if observation.unreadable is not None:
        return AudienceHealthState.UNREADABLE
    if observation.missing:
        return AudienceHealthState.MISSING
    if observation.size is not None:
        too_small = observation.size < min_size or observation.audience_status == "TOO_SMALL"
    else:  # no Pinterest audience yet: the list's own status is all there is
        too_small = observation.customer_list_status == "TOO_SMALL"
    return AudienceHealthState.TOO_SMALL if too_small else AudienceHealthState.OK


def assess(
    previous: HealthRecord | None, observation: Observation, now: datetime, min_size: int = PINTEREST_MIN_AUDIENCE_SIZE
) -> HealthRecord:
    """The new HEALTH record. An unreadable check changes nothing it remembers (sizes, statuses), only the state."""
    state = state_of(observation, min_size)
    first_seen = previous.first_seen_at if previous is not None else now
    if state is AudienceHealthState.UNREADABLE and previous is not None:
        return HealthRecord(
            audience_id=previous.audience_id,
            first_seen_at=first_seen,
            checked_at=now,
            state=state,
            size=previous.size,
            size_at=previous.size_at,
            previous_size=previous.previous_size,
            previous_size_at=previous.previous_size_at,
            audience_status=previous.audience_status,
            customer_list_status=previous.customer_list_status,
            uploaded_records=previous.uploaded_records,
            removed_records=previous.removed_records,
            reason=observation.unreadable,
        )
    last_size, last_size_at = _last_known_size(previous)
    return HealthRecord(
        audience_id=observation.audience_id,
        first_seen_at=first_seen,
        checked_at=now,
        state=state,
        size=observation.size,
        size_at=now if observation.size is not None else None,
        previous_size=last_size,
        previous_size_at=last_size_at,
        audience_status=observation.audience_status,
        customer_list_status=observation.customer_list_status,
        uploaded_records=observation.uploaded_records,
        removed_records=observation.removed_records,
        missing=observation.missing,
        reason=observation.unreadable,
    )


def _last_known_size(previous: HealthRecord | None) -> tuple[int | None, datetime | None]:
    if previous is None:
        return None, None
    if previous.size is not None:
        return previous.size, previous.size_at
    return previous.previous_size, previous.previous_size_at


def observation_of(
    audience_id: str,
    customer_list: dict[str, Any] | None,
    audience: dict[str, Any] | None,
    missing: tuple[Missing, ...] = (),
) -> Observation:
    """An observation from the GET answers (fields as the spec's CustomerList and Audience), ids dropped."""
    customer_list = customer_list or {}
    audience = audience or {}
    return Observation(
        audience_id=audience_id,
        customer_list_status=_text(customer_list.get("status")),
        uploaded_records=_count(customer_list.get("num_uploaded_user_records")),
        removed_records=_count(customer_list.get("num_removed_user_records")),
        size=_count(audience.get("size")),
        audience_status=_text(audience.get("status")),
        missing=missing,
    )


# No audience or list holds more; a larger number (or Infinity, NaN: JSON decoding accepts them) is no count, and
# would neither convert to int nor fit a float metric or a DynamoDB number (38 digits) exactly.
MAX_COUNT = 2**53 - 1


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_COUNT:
        return None
    return int(value)


def _text(value: Any) -> str | None:
    return value[:40] if isinstance(value, str) and value else None

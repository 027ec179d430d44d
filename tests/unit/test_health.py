"""Audience health: what a check remembers (pinsync.health.model) and what the alert function decides from a report
(pinsync.alerts.health), as pure functions; then the check itself on fakes."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pinsync.alerts.health import classify_health, health_key
from pinsync.alerts.inbound import AudienceHealthEvent
from pinsync.alerts.model import Alert, AlertContext, AlertType, Recovery
from pinsync.alerts.render import render
from pinsync.alerts.suppression import open_alert, recovered_alert
from pinsync.core.deadline import Deadline
from pinsync.core.errors import PinterestNotFoundError, PinterestTransientError
from pinsync.core.observability import redact
from pinsync.events import AudienceHealth, AudienceHealthState, Destination, DetailType, detail_of
from pinsync.health.model import HealthRecord, Observation, assess, observation_of, state_of
from pinsync.health.service import AudienceHealthCheck
from pinsync.sync.planning import AudienceMapping, MappingState

from tests.fakes.metrics import RecordingMetrics

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CTX = AlertContext(destination_name="pinsync", stack_name="pinsync", dashboard_name="pinsync-dataflow")


def record(**changes: Any) -> HealthRecord:
    values: dict[str, Any] = {
        "audience_id": "spring-sale",
        "first_seen_at": NOW - 5 * DAY,
        "checked_at": NOW - DAY,
        "state": AudienceHealthState.OK,
        "size": 1000,
        "size_at": NOW - DAY,
    }
    return HealthRecord(**(values | changes))


def decide(*records: HealthRecord, ctx: AlertContext = CTX, now: datetime = NOW) -> list[Any]:
    report = AudienceHealth(
        destination=Destination(name="pinsync"), checked_at=now, audiences=[r.facts() for r in records]
    )
    event = AudienceHealthEvent.model_validate(
        {
            "version": "0",
            "id": "1",
            "detail-type": "Audience Health",
            "source": "pinsync",
            "account": "123456789012",
            "time": now.isoformat(),
            "region": "us-east-1",
            "resources": [],
            "detail": detail_of(report),
        }
    )
    return classify_health(event, ctx)


def alerts(decisions: list[Any]) -> list[tuple[AlertType, str]]:
    return [(d.alert_type, d.key) for d in decisions if isinstance(d, Alert)]


def recoveries(decisions: list[Any]) -> list[str]:
    return [d.key for d in decisions if isinstance(d, Recovery)]


# -- what a check remembers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "state"),
    [
        (Observation("a", size=100, audience_status="READY"), AudienceHealthState.OK),
        (Observation("a", size=99, audience_status="READY"), AudienceHealthState.TOO_SMALL),
        (Observation("a", size=500, audience_status="TOO_SMALL"), AudienceHealthState.TOO_SMALL),
        (Observation("a", customer_list_status="TOO_SMALL"), AudienceHealthState.TOO_SMALL),
        (Observation("a", customer_list_status="PROCESSING"), AudienceHealthState.OK),
        (Observation("a", missing=("audience",)), AudienceHealthState.MISSING),
        (Observation("a", unreadable="rate_limited"), AudienceHealthState.UNREADABLE),
    ],
)
def test_state_of_an_observation(observation: Observation, state: AudienceHealthState) -> None:
    assert state_of(observation) is state


def test_first_check_records_the_first_seen_time_and_no_previous_size() -> None:
    new = assess(None, Observation("spring-sale", size=42, audience_status="TOO_SMALL"), NOW)

    assert (new.first_seen_at, new.checked_at, new.size, new.size_at) == (NOW, NOW, 42, NOW)
    assert (new.previous_size, new.previous_size_at, new.state) == (None, None, AudienceHealthState.TOO_SMALL)


def test_a_later_check_keeps_the_first_seen_time_and_rolls_the_size() -> None:
    new = assess(record(), Observation("spring-sale", size=400, audience_status="READY"), NOW)

    assert (new.first_seen_at, new.size, new.previous_size, new.previous_size_at) == (
        NOW - 5 * DAY,
        400,
        1000,
        NOW - DAY,
    )


def test_a_missing_audience_keeps_the_last_known_size_as_previous() -> None:
    missing = assess(record(), Observation("spring-sale", missing=("customer_list",)), NOW)
    later = assess(missing, Observation("spring-sale", missing=("customer_list",)), NOW + DAY)

    assert (missing.size, missing.previous_size, missing.missing) == (None, 1000, ("customer_list",))
    assert (later.previous_size, later.previous_size_at) == (1000, NOW - DAY)


def test_an_unreadable_check_changes_nothing_remembered() -> None:
    new = assess(record(), Observation("spring-sale", unreadable="pinterest_unavailable"), NOW)

    assert (new.state, new.reason, new.checked_at) == (AudienceHealthState.UNREADABLE, "pinterest_unavailable", NOW)
    assert (new.size, new.size_at, new.first_seen_at) == (1000, NOW - DAY, NOW - 5 * DAY)


def test_observation_drops_the_pinterest_ids() -> None:
    observed = observation_of(
        "a",
        {"id": "5497558000001", "status": "READY", "num_uploaded_user_records": 12, "num_removed_user_records": 2},
        {"id": "5497558000002", "size": 9, "status": "TOO_SMALL"},
    )

    assert observed == Observation(
        "a", customer_list_status="READY", uploaded_records=12, removed_records=2, size=9, audience_status="TOO_SMALL"
    )
    assert "5497558" not in repr(observed)


@pytest.mark.parametrize("count", [float("inf"), float("nan"), -float("inf"), 1e308, 10**41, 2**53, -1, "5", True])
def test_a_count_that_cannot_be_one_is_left_out_not_a_crash(count: Any) -> None:
    """Counts outside 0..2**53-1 are no audience size: Infinity and NaN (which JSON decoding accepts) raised out of
    int() and ended the whole check; a 41-digit size would be refused by DynamoDB (38 digits) at the put."""
    observed = observation_of(
        "a", {"num_uploaded_user_records": count, "num_removed_user_records": count}, {"size": count, "status": "READY"}
    )

    assert (observed.size, observed.uploaded_records, observed.removed_records) == (None, None, None)
    assert observation_of("a", None, {"size": 2**53 - 1}).size == 2**53 - 1


# -- what the alert function decides ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_seen_hours_ago", "after_hours", "alerted"),
    [(71, 72, False), (72, 72, True), (200, 72, True), (1, 0, True), (24, 48, False)],
)
def test_too_small_alerts_only_after_the_allowed_time(
    first_seen_hours_ago: int, after_hours: float, alerted: bool
) -> None:
    small = record(
        state=AudienceHealthState.TOO_SMALL, size=42, first_seen_at=NOW - timedelta(hours=first_seen_hours_ago)
    )
    ctx = AlertContext(destination_name="pinsync", stack_name="pinsync", audience_too_small_after_hours=after_hours)

    found = decide(small, ctx=ctx)

    assert alerts(found) == ([(AlertType.AUDIENCE_TOO_SMALL, "audience_too_small:spring-sale")] if alerted else [])
    assert "audience_too_small:spring-sale" not in recoveries(found)  # still small: nothing recovers


@pytest.mark.parametrize(
    ("previous", "size", "threshold", "alerted"),
    [
        (1000, 499, 0.5, True),
        (1000, 500, 0.5, False),
        (1000, 1200, 0.5, False),
        (1000, 850, 0.1, True),
        (0, 0, 0.5, False),
    ],
)
def test_shrunk_alerts_beyond_the_threshold(previous: int, size: int, threshold: float, alerted: bool) -> None:
    shrunk = record(size=size, previous_size=previous, previous_size_at=NOW - DAY)
    ctx = AlertContext(destination_name="pinsync", stack_name="pinsync", audience_shrink_threshold=threshold)

    found = decide(shrunk, ctx=ctx)

    assert alerts(found) == ([(AlertType.AUDIENCE_SHRUNK, "audience_shrunk:spring-sale")] if alerted else [])
    assert ("audience_shrunk:spring-sale" in recoveries(found)) is not alerted


def test_a_drop_since_a_size_older_than_a_day_is_not_a_shrink() -> None:
    old = record(size=100, previous_size=1000, previous_size_at=NOW - 3 * DAY)

    assert alerts(decide(old)) == []


def test_missing_alerts_and_decides_nothing_else() -> None:
    gone = record(state=AudienceHealthState.MISSING, size=None, missing=("customer_list", "audience"))

    found = decide(gone)

    assert alerts(found) == [(AlertType.AUDIENCE_MISSING, "audience_missing:spring-sale")]
    assert recoveries(found) == []
    text = render(found[0], CTX).text
    assert "customer list and audience" in text and "pinsync audiences activate spring-sale" in text


def test_a_healthy_audience_recovers_every_problem() -> None:
    found = decide(record(size=900, previous_size=1000, previous_size_at=NOW - DAY))

    assert alerts(found) == []
    assert recoveries(found) == [
        health_key(AlertType.AUDIENCE_MISSING, "spring-sale"),
        health_key(AlertType.AUDIENCE_TOO_SMALL, "spring-sale"),
        health_key(AlertType.AUDIENCE_SHRUNK, "spring-sale"),
    ]


def test_recovered_message_names_the_audience() -> None:
    small = record(state=AudienceHealthState.TOO_SMALL, size=42, first_seen_at=NOW - 4 * DAY)
    (alert,) = [d for d in decide(small, now=NOW - DAY) if isinstance(d, Alert)]
    recovery = next(d for d in decide(record(size=150)) if isinstance(d, Recovery) and d.key == alert.key)

    text = render(recovered_alert(recovery, open_alert(alert, NOW - DAY, timedelta(hours=1)), CTX), CTX).text

    assert 'Audience "spring-sale" of destination "pinsync" is back to OK' in text
    assert "audience_too_small" in text and "minimum of 100" in text


def test_unreadable_decides_nothing_and_other_destinations_are_ignored() -> None:
    assert decide(record(state=AudienceHealthState.UNREADABLE, reason="rate_limited")) != []  # Ignored("no_audience")
    assert all(not isinstance(d, Alert | Recovery) for d in decide(record(state=AudienceHealthState.UNREADABLE)))
    other = AlertContext(destination_name="other", stack_name="pinsync")
    assert [type(d).__name__ for d in decide(record(), ctx=other)] == ["Ignored"]


def test_health_messages_carry_no_identifier() -> None:
    found = decide(
        record(state=AudienceHealthState.TOO_SMALL, size=3),
        record(audience_id="b", state=AudienceHealthState.MISSING, missing=("audience",)),
        record(audience_id="c", size=10, previous_size=1000, previous_size_at=NOW - DAY),
    )
    for alert in (d for d in found if isinstance(d, Alert)):
        rendered = render(alert, CTX)
        assert redact(rendered.text) == rendered.text and len(rendered.subject) <= 100


# -- the check on fakes ----------------------------------------------------------------------------------------------


class FakeMappings:
    def __init__(self, *mappings: AudienceMapping) -> None:
        self.mappings = {m.audience_id: m for m in mappings}

    def listed_audiences(self) -> frozenset[str]:
        return frozenset(self.mappings)

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]:
        return {a: self.mappings[a] for a in audience_ids if a in self.mappings}


class FakeHealth:
    def __init__(self) -> None:
        self.records: dict[str, HealthRecord] = {}

    def get_many(self, audience_ids: Collection[str]) -> dict[str, HealthRecord]:
        return {a: self.records[a] for a in audience_ids if a in self.records}

    def put(self, record: HealthRecord) -> None:
        self.records[record.audience_id] = record


class FakePinterest:
    def __init__(self) -> None:
        self.lists: dict[str, dict[str, Any]] = {}
        self.audiences: dict[str, dict[str, Any]] = {}
        self.down = False

    def get_customer_list(self, customer_list_id: str) -> dict[str, Any]:
        if self.down:
            raise PinterestTransientError("GET: HTTP 503", status=503)
        if customer_list_id not in self.lists:
            raise PinterestNotFoundError("GET: not found", status=404)
        return self.lists[customer_list_id]

    def get_audience(self, audience_id: str) -> dict[str, Any]:
        if audience_id not in self.audiences:
            raise PinterestNotFoundError("GET: not found", status=404)
        return self.audiences[audience_id]


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: Any) -> None:
        self.events.append((detail_type, dict(detail)))


def test_the_check_reads_assesses_writes_measures_and_reports() -> None:
    mappings = FakeMappings(
        AudienceMapping("big", MappingState.READY, "9000000011", "9000000021"),
        AudienceMapping("small", MappingState.READY, "9000000012", "9000000022"),
        AudienceMapping("gone", MappingState.READY, "9000000013", "9000000023"),
        AudienceMapping("new", MappingState.LIST_CREATED, "9000000014", None),
        AudienceMapping("creating", MappingState.CREATING, None, None),
    )
    pinterest = FakePinterest()
    pinterest.lists = {"9000000011": {"status": "READY", "num_uploaded_user_records": 300}, "9000000012": {"status": "TOO_SMALL"},
                       "9000000014": {"status": "PROCESSING"}}  # fmt: skip
    pinterest.audiences = {
        "9000000021": {"size": 250, "status": "READY"},
        "9000000022": {"size": 7, "status": "TOO_SMALL"},
    }
    health, published, metrics = FakeHealth(), Published(), RecordingMetrics()
    check = AudienceHealthCheck(
        mappings, health, pinterest, published, metrics, Destination(name="pinsync"), Deadline.after(60), lambda: NOW
    )

    summary = check.run()

    assert summary == {"audiences": 4, "states": {"ok": 2, "too_small": 1, "missing": 1}}
    assert {a: r.state.value for a, r in health.records.items()} == {
        "big": "ok", "small": "too_small", "gone": "missing", "new": "ok"}  # fmt: skip
    assert health.records["gone"].missing == ("customer_list", "audience")
    assert metrics.by_audience[("AudienceSize", "big")] == 250
    assert metrics.by_audience[("AudienceUploadedRecords", "big")] == 300
    assert metrics.by_audience[("AudienceMissing", "gone")] == 1
    assert (metrics.values["AudiencesChecked"], metrics.values["AudiencesUnhealthy"]) == (4, 2)
    ((detail_type, detail),) = published.events
    assert detail_type == DetailType.AUDIENCE_HEALTH
    assert [a["audience_id"] for a in detail["audiences"]] == ["big", "gone", "new", "small"]
    assert not any(
        pinterest_id in str(detail)
        for pinterest_id in ("9000000011", "9000000012", "9000000013", "9000000021", "9000000022", "9000000023")
    )

    pinterest.down = True
    check.run()

    assert health.records["big"].state is AudienceHealthState.UNREADABLE
    assert health.records["big"].size == 250  # remembered, not forgotten


def test_a_report_of_long_non_ascii_audience_ids_is_split_to_fit_eventbridge() -> None:
    """Audience ids may have 256 printable characters of any script; the publisher's JSON escapes each non-ASCII one
    as six bytes (an emoji as twelve), so 200 of them made one detail of about 700 KB, which EventBridge refuses (256 KB
    per entry): the whole report, and every alert it carried, was lost with a log line."""
    ids = [f"{n:03d}" + "\U0001f600" * 253 for n in range(200)]
    mappings = FakeMappings(*(AudienceMapping(a, MappingState.READY, f"90{n:08d}", None) for n, a in enumerate(ids)))
    pinterest = FakePinterest()
    pinterest.lists = {f"90{n:08d}": {"status": "READY", "num_uploaded_user_records": 300} for n in range(200)}
    published = Published()
    check = AudienceHealthCheck(
        mappings, FakeHealth(), pinterest, published, RecordingMetrics(), Destination(name="pinsync"),
        Deadline.after(60), lambda: NOW,
    )  # fmt: skip

    check.run()

    assert len(published.events) > 1
    assert all(len(json.dumps(detail, default=str).encode()) <= 256 * 1024 - 1024 for _, detail in published.events)
    reported = [a["audience_id"] for _, detail in published.events for a in detail["audiences"]]
    assert reported == sorted(ids)

"""One health check: every audience with a customer list is read on Pinterest, assessed against its HEALTH item,
written back, measured, and reported in one ``Audience Health`` event.

A Pinterest failure for one audience (5xx, rate limit, token) makes that audience ``unreadable`` for this check and
the others go on; running out of time does the same for the rest. Logs carry the CDP audience id and counts, never a
Pinterest id or an identifier.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pinsync.core.deadline import Deadline
from pinsync.core.errors import PinterestError, PinterestNotFoundError
from pinsync.core.observability import MetricName, MetricsSink, MetricUnit, logger
from pinsync.core.ports import EventPublisher
from pinsync.events import (
    PINTEREST_MIN_AUDIENCE_SIZE,
    AudienceHealth,
    AudienceHealthFacts,
    AudienceHealthState,
    Destination,
    DetailType,
    FailureReason,
    detail_of,
)
from pinsync.health.model import HealthRecord, Missing, Observation, assess, observation_of
from pinsync.health.ports import HealthStore, MappedAudiences, PinterestReads
from pinsync.sync.planning import AudienceMapping

# EventBridge takes at most 256 KB per event: a report is published in parts of at most this many audiences, and of
# at most DETAIL_BUDGET_BYTES of detail as the publisher encodes it (JSON, non-ASCII escaped: an audience id of 256
# characters can take 3 KB), leaving room for the rest of the entry.
AUDIENCES_PER_EVENT = 200
DETAIL_BUDGET_BYTES = 240 * 1024
# Reading one audience takes two calls, each retried within the deadline: stop starting new reads below this.
SECONDS_PER_AUDIENCE = 5.0


@dataclass
class AudienceHealthCheck:
    mappings: MappedAudiences
    health: HealthStore
    pinterest: PinterestReads
    publisher: EventPublisher
    metrics: MetricsSink
    destination: Destination
    deadline: Deadline
    clock: Callable[[], datetime]
    min_size: int = PINTEREST_MIN_AUDIENCE_SIZE

    def run(self) -> dict[str, Any]:
        now = self.clock()
        audience_ids = sorted(self.mappings.listed_audiences())
        mappings = self.mappings.get_mappings(audience_ids)
        previous = self.health.get_many(list(mappings))
        records: list[HealthRecord] = []
        for audience_id in sorted(mappings):
            mapping = mappings[audience_id]
            if not mapping.customer_list_id:
                continue  # still being created: nothing on Pinterest to read yet
            observation = self._observe(mapping)
            record = assess(previous.get(audience_id), observation, now, self.min_size)
            self.health.put(record)
            self._measure(record)
            records.append(record)
        states = Counter(record.state.value for record in records)
        self.metrics.add_metric(MetricName.AUDIENCES_CHECKED, MetricUnit.Count, len(records))
        self.metrics.add_metric(
            MetricName.AUDIENCES_UNHEALTHY, MetricUnit.Count, len(records) - states[AudienceHealthState.OK.value]
        )
        self._publish(records, now)
        logger.info("Audience health checked", extra={"audiences": len(records), "states": dict(states)})
        return {"audiences": len(records), "states": dict(states)}

    def _observe(self, mapping: AudienceMapping) -> Observation:
        audience_id = mapping.audience_id
        if not self.deadline.allows(SECONDS_PER_AUDIENCE):
            return Observation(audience_id, unreadable=FailureReason.DEADLINE.value)
        missing: list[Missing] = []
        customer_list = audience = None
        try:
            try:
                customer_list = self.pinterest.get_customer_list(str(mapping.customer_list_id))
            except PinterestNotFoundError:
                missing.append("customer_list")
            if mapping.pinterest_audience_id:
                try:
                    audience = self.pinterest.get_audience(mapping.pinterest_audience_id)
                except PinterestNotFoundError:
                    missing.append("audience")
        except PinterestError as error:
            logger.warning(
                "Audience not readable on Pinterest", extra={"audience_id": audience_id, "reason": error.reason}
            )
            return Observation(audience_id, unreadable=str(error.reason))
        return observation_of(audience_id, customer_list, audience, tuple(missing))

    def _measure(self, record: HealthRecord) -> None:
        audience_id = record.audience_id
        if record.state is AudienceHealthState.UNREADABLE:
            return  # no datapoint rather than a stale one
        if record.size is not None:
            self.metrics.add_audience_metric(MetricName.AUDIENCE_SIZE, MetricUnit.Count, record.size, audience_id)
        if record.uploaded_records is not None:
            self.metrics.add_audience_metric(
                MetricName.AUDIENCE_UPLOADED_RECORDS, MetricUnit.Count, record.uploaded_records, audience_id
            )
        missing = 1 if record.state is AudienceHealthState.MISSING else 0
        self.metrics.add_audience_metric(MetricName.AUDIENCE_MISSING, MetricUnit.Count, missing, audience_id)

    def _publish(self, records: list[HealthRecord], now: datetime) -> None:
        for part in _parts([record.facts() for record in records]):
            report = AudienceHealth(
                destination=self.destination, checked_at=now, min_size=self.min_size, audiences=part
            )
            self.publisher.publish(DetailType.AUDIENCE_HEALTH, detail_of(report))


def _parts(facts: list[AudienceHealthFacts]) -> list[list[AudienceHealthFacts]]:
    """The audiences in report order, cut into parts that fit one event each (one empty part for no audience)."""
    parts: list[list[AudienceHealthFacts]] = [[]]
    size = 0
    for item in facts:
        encoded = len(json.dumps(item.model_dump(mode="json"), default=str)) + 2  # the separator ", "
        if parts[-1] and (len(parts[-1]) >= AUDIENCES_PER_EVENT or size + encoded > DETAIL_BUDGET_BYTES):
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += encoded
    return parts

"""A fake of :class:`pinsync.core.observability.MetricsSink` that keeps what was recorded."""

from __future__ import annotations

from pinsync.core.observability import MetricUnit


class RecordingMetrics:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.by_reason: dict[tuple[str, str], float] = {}
        self.by_audience: dict[tuple[str, str], float] = {}

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None:
        self.values[str(name)] = self.values.get(str(name), 0) + value

    def add_reason_metric(self, name: str, value: float, reason: str) -> None:
        key = (str(name), str(reason))
        self.by_reason[key] = self.by_reason.get(key, 0) + value

    def add_audience_metric(self, name: str, unit: MetricUnit, value: float, audience_id: str) -> None:
        self.by_audience[(str(name), audience_id)] = value

"""A fake of :class:`pinsync.core.observability.MetricsSink` that keeps what was recorded."""

from __future__ import annotations

from collections import Counter

from pinsync.core.observability import MetricUnit


class RecordingMetrics:
    def __init__(self) -> None:
        self.values: Counter[str] = Counter()
        self.by_reason: Counter[tuple[str, str]] = Counter()

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None:
        self.values[str(name)] += value

    def add_reason_metric(self, name: str, value: float, reason: str) -> None:
        self.by_reason[(str(name), str(reason))] += value

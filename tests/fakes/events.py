"""A fake of :class:`pinsync.core.ports.EventPublisher` that keeps what was published."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        self.published.append((detail_type, dict(detail)))

    def details(self, detail_type: str) -> list[dict[str, Any]]:
        return [detail for kind, detail in self.published if kind == detail_type]

"""EventBridge: where pinsync reports what it did (``Dataflow Run``, ``Token Rotation``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pinsync.core.observability import logger
from pinsync.events import EVENT_SOURCE


class EventBridgePublisher:
    """The :class:`pinsync.core.ports.EventPublisher` port: one event per report. A failed put is logged, never raised: the data work is already done."""

    def __init__(self, client: Any, event_bus_name: str) -> None:
        self._client = client
        self._bus = event_bus_name

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "EventBusName": self._bus,
        }
        try:
            response = self._client.put_events(Entries=[entry])
        except Exception as error:
            logger.error("Could not publish event", extra={"detail_type": detail_type, "error": type(error).__name__})
            return
        if response.get("FailedEntryCount"):
            codes = [item.get("ErrorCode") for item in response.get("Entries", []) if item.get("ErrorCode")]
            logger.error("EventBridge rejected the event", extra={"detail_type": detail_type, "error_codes": codes})

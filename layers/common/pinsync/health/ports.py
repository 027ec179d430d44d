"""The ports of the health check: where mappings and HEALTH items are read and written, and what is read from
Pinterest. Implemented in ``pinsync.adapters`` (``dynamo_mappings``, ``dynamo_health``, ``pinterest_ads``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from pinsync.health.model import HealthRecord
from pinsync.sync.planning import AudienceMapping


class MappedAudiences(Protocol):
    def listed_audiences(self) -> frozenset[str]:
        """The audiences that have (or had) a customer list."""
        ...

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]: ...


class HealthStore(Protocol):
    def get_many(self, audience_ids: Collection[str]) -> dict[str, HealthRecord]: ...

    def put(self, record: HealthRecord) -> None: ...


class PinterestReads(Protocol):
    def get_customer_list(self, customer_list_id: str) -> dict[str, Any]:
        """Raises :class:`pinsync.core.errors.PinterestNotFoundError` when the list was deleted."""
        ...

    def get_audience(self, audience_id: str) -> dict[str, Any]:
        """Raises :class:`pinsync.core.errors.PinterestNotFoundError` when the audience was deleted."""
        ...

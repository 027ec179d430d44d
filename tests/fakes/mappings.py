"""A fake of :class:`pinsync.sync.ports.MappingStore`: mappings, activations and the two leases, in memory."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pinsync.sync.planning import AudienceMapping, MappingState
from pinsync.sync.ports import WriterHeld


@dataclass
class FakeMappings:
    mappings: dict[str, AudienceMapping] = field(default_factory=dict)
    leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    writers: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # audience → (owner, lease end)
    settling: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)  # audiences with a list (the LISTED item)

    def listed_audiences(self) -> frozenset[str]:
        return frozenset(self.listed)

    def note_listed(self, audience_ids: Collection[str]) -> None:
        self.listed.update(audience_ids)

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]:
        return {aid: m for aid, m in self.mappings.items() if aid in audience_ids}

    def claim_creation(self, audience_id: str, owner: str, now: datetime, lease: timedelta, *, name: str) -> str | None:
        mapping = self.mappings.get(audience_id)
        if mapping is not None and mapping.customer_list_id is not None:
            return None
        holder = self.leases.get(audience_id)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return None
        self.leases[audience_id] = (owner, now + lease)
        recorded = mapping.name if mapping is not None and mapping.name else name
        self.mappings[audience_id] = AudienceMapping(audience_id, MappingState.CREATING, name=recorded)
        return recorded

    def record_customer_list(self, audience_id: str, customer_list_id: str, owner: str) -> None:
        self.listed.add(audience_id)
        name = self.mappings[audience_id].name if audience_id in self.mappings else None
        self.mappings[audience_id] = AudienceMapping(
            audience_id, MappingState.LIST_CREATED, customer_list_id, name=name
        )
        self.leases.pop(audience_id, None)

    def record_audience(self, audience_id: str, pinterest_audience_id: str) -> None:
        current = self.mappings[audience_id]
        self.mappings[audience_id] = AudienceMapping(
            audience_id, MappingState.READY, current.customer_list_id, pinterest_audience_id, current.name
        )

    def release_claim(self, audience_id: str, owner: str) -> None:
        if self.leases.get(audience_id, ("",))[0] == owner:
            del self.leases[audience_id]

    # the writer lease: as in DynamoDB, an unexpired lease of another owner refuses

    def acquire_writer(self, audience_id: str, owner: str, now: datetime, until: datetime) -> WriterHeld | None:
        holder = self.writers.get(audience_id)
        if holder is not None and holder[0] != owner and holder[1] >= now:
            return WriterHeld(holder[1], audience_id in self.settling)
        self.writers[audience_id] = (owner, until)
        self.settling.discard(audience_id)
        return None

    def release_writer(self, audience_id: str, owner: str, until: datetime, *, settling: bool = False) -> None:
        holder = self.writers.get(audience_id)
        if holder is not None and holder[0] == owner:
            self.writers[audience_id] = (owner, until)
            if settling:
                self.settling.add(audience_id)

"""In-memory fakes of the ports, for unit tests of the pure use cases (integration tests use the emulator)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pinsync.errors import PinterestError, PinterestRejectedError
from pinsync.membership import Operation
from pinsync.planning import AudienceMapping, MappingState


@dataclass
class FakePinterest:
    lists: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    audiences: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    poison: set[str] = field(default_factory=set)
    failure: PinterestError | None = None
    create_failures: list[PinterestError] = field(default_factory=list)  # raised by the next create calls, in order
    audience_failure: PinterestError | None = None

    def _check(self, records: Sequence[str]) -> None:
        if self.failure is not None:
            raise self.failure
        if self.poison.intersection(records):
            raise PinterestRejectedError("rejected", status=400, code=1)

    def create_customer_list(self, name: str, records: Sequence[str]) -> str:
        self.calls.append(("create", name, len(records)))
        if self.create_failures:
            raise self.create_failures.pop(0)
        self._check(records)
        list_id = str(1000 + len(self.lists))
        self.lists[list_id] = set(records)
        self.names[name] = list_id
        return list_id

    def find_customer_list(self, name: str) -> str | None:
        self.calls.append(("find", name, 0))
        if self.failure is not None:
            raise self.failure
        return self.names.get(name)

    def update_customer_list(self, customer_list_id: str, operation: Operation, records: Sequence[str]) -> None:
        self.calls.append((operation.value, customer_list_id, len(records)))
        self._check(records)
        if operation is Operation.ADD:
            self.lists[customer_list_id].update(records)
        else:
            self.lists[customer_list_id].difference_update(records)

    def create_audience(self, name: str, customer_list_id: str) -> str:
        self.calls.append(("audience", name, 0))
        if self.audience_failure is not None:
            raise self.audience_failure
        audience_id = str(5000 + len(self.audiences))
        self.audiences[name] = audience_id
        return audience_id

    def find_audience(self, name: str) -> str | None:
        return self.audiences.get(name)

    def patches(self) -> list[tuple[str, str, int]]:
        return [call for call in self.calls if call[0] in ("ADD", "REMOVE")]


@dataclass
class FakeMappings:
    mappings: dict[str, AudienceMapping] = field(default_factory=dict)
    leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]:
        return {aid: m for aid, m in self.mappings.items() if aid in audience_ids}

    def claim_creation(self, audience_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        mapping = self.mappings.get(audience_id)
        if mapping is not None and mapping.customer_list_id is not None:
            return False
        holder = self.leases.get(audience_id)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self.leases[audience_id] = (owner, now + lease)
        return True

    def record_customer_list(self, audience_id: str, customer_list_id: str, owner: str) -> None:
        self.mappings[audience_id] = AudienceMapping(audience_id, MappingState.LIST_CREATED, customer_list_id)
        self.leases.pop(audience_id, None)

    def record_audience(self, audience_id: str, pinterest_audience_id: str) -> None:
        current = self.mappings[audience_id]
        self.mappings[audience_id] = AudienceMapping(
            audience_id, MappingState.READY, current.customer_list_id, pinterest_audience_id, current.name
        )

    def release_claim(self, audience_id: str, owner: str) -> None:
        if self.leases.get(audience_id, ("",))[0] == owner:
            del self.leases[audience_id]

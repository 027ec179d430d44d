"""A fake of :class:`pinsync.sync.ports.PinterestAds` (integration tests use the emulator instead)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pinsync.core.errors import PinterestError, PinterestRejectedError
from pinsync.sync.membership import Operation


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
    lookup_failures: dict[str, PinterestError] = field(default_factory=dict)  # list name → what its lookup raises
    retried: bool = False  # what updates answer: accepted on a retry after an ambiguous attempt

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
        if name in self.lookup_failures:
            raise self.lookup_failures[name]
        return self.names.get(name)

    def update_customer_list(self, customer_list_id: str, operation: Operation, records: Sequence[str]) -> bool:
        self.calls.append((operation.value, customer_list_id, len(records)))
        self._check(records)
        if operation is Operation.ADD:
            self.lists[customer_list_id].update(records)
        else:
            self.lists[customer_list_id].difference_update(records)
        return self.retried

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

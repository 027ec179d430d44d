"""Turning coalesced changes into as few Pinterest requests as the per-request limit allows.

Changes are grouped per (customer list, operation) across all messages of the batch, then chunked by
``MAX_RECORDS_PER_REQUEST``. Audiences without a customer list yet are set aside: their ADDs create the list
(the first chunk travels in the create call), their REMOVEs have nothing to remove from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pinsync.sync.membership import Change, Operation


class MappingState(StrEnum):
    """Where an audience stands on its way to a Pinterest customer list and audience."""

    CREATING = "CREATING"  # an invocation holds the creation lease; nothing exists on Pinterest yet
    LIST_CREATED = "LIST_CREATED"  # the customer list exists; the Pinterest audience is still to be created
    READY = "READY"  # customer list and audience exist (or the list was linked by an operator)


@dataclass(frozen=True, slots=True)
class AudienceMapping:
    """The state table's view of one CDP audience."""

    audience_id: str
    state: MappingState
    customer_list_id: str | None = None
    pinterest_audience_id: str | None = None
    name: str | None = None

    @property
    def has_list(self) -> bool:
        return self.customer_list_id is not None


@dataclass(frozen=True, slots=True)
class Request:
    """One PATCH of a customer list: an operation over a chunk of records."""

    customer_list_id: str
    operation: Operation
    changes: tuple[Change, ...]

    @property
    def records(self) -> list[str]:
        return [change.record for change in self.changes]

    def halves(self) -> tuple[Request, Request]:
        """Split to isolate a record Pinterest rejects (only meaningful for two or more changes)."""
        middle = len(self.changes) // 2
        return (
            Request(self.customer_list_id, self.operation, self.changes[:middle]),
            Request(self.customer_list_id, self.operation, self.changes[middle:]),
        )


@dataclass
class Plan:
    """What to send, what needs a customer list first, and what has nothing to act on."""

    requests: list[Request] = field(default_factory=list)
    to_create: dict[str, list[Change]] = field(default_factory=dict)
    removes_without_list: list[Change] = field(default_factory=list)


def chunked(changes: Sequence[Change], size: int) -> list[tuple[Change, ...]]:
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [tuple(changes[start : start + size]) for start in range(0, len(changes), size)]


def requests_for_list(customer_list_id: str, changes: Iterable[Change], max_records: int) -> list[Request]:
    """Requests for one customer list: REMOVEs first, then ADDs, each chunked by the limit."""
    by_operation: dict[Operation, list[Change]] = defaultdict(list)
    for change in changes:
        by_operation[change.operation].append(change)
    return [
        Request(customer_list_id, operation, chunk)
        for operation in (Operation.REMOVE, Operation.ADD)
        for chunk in chunked(by_operation.get(operation, []), max_records)
    ]


def plan(changes: Iterable[Change], list_ids: Mapping[str, str], max_records: int) -> Plan:
    """Group changes by customer list; ``list_ids`` maps audience id → customer list id where one exists."""
    result = Plan()
    by_list: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        list_id = list_ids.get(change.audience_id)
        if list_id is not None:
            by_list[list_id].append(change)
        elif change.operation is Operation.ADD:
            result.to_create.setdefault(change.audience_id, []).append(change)
        else:
            result.removes_without_list.append(change)
    for list_id, list_changes in by_list.items():
        result.requests.extend(requests_for_list(list_id, list_changes, max_records))
    return result


def minimum_requests(record_counts: Iterable[int], max_records: int) -> int:
    """The fewest calls that can carry these per-(list, operation) record counts (for efficiency figures)."""
    return sum(-(-count // max_records) for count in record_counts if count > 0)

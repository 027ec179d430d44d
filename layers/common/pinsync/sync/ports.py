"""The ports the sync use case depends on. Adapters in ``pinsync.adapters`` implement them; ``tests/fakes`` fake them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pinsync.sync.ledger import LedgerItem
from pinsync.sync.membership import Operation
from pinsync.sync.planning import AudienceMapping


@dataclass(frozen=True, slots=True)
class WriterHeld:
    """An audience's writer lease, held by another invocation until ``until``: still working, or ``settling`` (done,
    but holding the audience while a request of its that failed ambiguously may still land at Pinterest)."""

    until: datetime
    settling: bool = False


class PinterestAds(Protocol):
    """The customer-list and audience calls of the Pinterest Ads API, bound to one ad account.

    Raises the ``pinsync.core.errors.Pinterest*Error`` family; retries and rate-limit waits happen inside.
    """

    def create_customer_list(self, name: str, records: Sequence[str]) -> str: ...

    def find_customer_list(self, name: str) -> str | None: ...

    def update_customer_list(self, customer_list_id: str, operation: Operation, records: Sequence[str]) -> bool:
        """Apply the records; True when an attempt failed ambiguously (a timeout, a 5xx) before a retry was accepted:
        that attempt may still land at Pinterest, later than this one."""
        ...

    def create_audience(self, name: str, customer_list_id: str) -> str: ...

    def find_audience(self, name: str) -> str | None: ...


class MappingStore(Protocol):
    """Audience → customer list mappings, the creation lease that keeps list creation single, and the writer lease
    that lets one invocation at a time decide and send for an audience."""

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]: ...

    def claim_creation(self, audience_id: str, owner: str, now: datetime, lease: timedelta, *, name: str) -> str | None:
        """Take the creation lease unless a mapping exists or another owner holds an unexpired lease (None then).

        Records ``name`` as the name of the list to create unless one is recorded already (the operator's, or an
        earlier attempt's), and returns the recorded one: every attempt looks for, and creates, the same name."""
        ...

    def record_customer_list(self, audience_id: str, customer_list_id: str, owner: str) -> None: ...

    def record_audience(self, audience_id: str, pinterest_audience_id: str) -> None: ...

    def release_claim(self, audience_id: str, owner: str) -> None: ...

    def listed_audiences(self) -> frozenset[str]:
        """Every audience that has (or had) a customer list: where a consent denial or an erasure must look."""
        ...

    def note_listed(self, audience_ids: Collection[str]) -> None:
        """Make sure these audiences, which have a customer list, are among :meth:`listed_audiences`."""
        ...

    def acquire_writer(self, audience_id: str, owner: str, now: datetime, until: datetime) -> WriterHeld | None:
        """Take the audience's writer lease until ``until``, unless another owner holds an unexpired one (atomic):
        None when taken, else that other owner's lease."""
        ...

    def release_writer(self, audience_id: str, owner: str, until: datetime, *, settling: bool = False) -> None:
        """End this owner's writer lease at ``until``: now, or later (``settling``) to hold the audience a while."""
        ...


class MembershipLedger(Protocol):
    """The membership ledger's items of one audience (DynamoDB in production)."""

    def read(self, audience_id: str, keys: Collection[str]) -> dict[str, LedgerItem]:
        """The items the ledger holds among ``keys`` (records and profile keys), read consistently."""
        ...

    def write(self, audience_id: str, items: Sequence[LedgerItem]) -> None:
        """Put these items whole (the caller holds the audience's writer lease)."""
        ...


@dataclass(frozen=True, slots=True)
class VisibilityChange:
    """Hide one received message (``receipt_handle``, never logged) for ``seconds`` from now."""

    receipt_handle: str
    seconds: int


class MessageVisibility(Protocol):
    """Delays the next delivery of messages this invocation received (SQS visibility timeout)."""

    def change(self, changes: Sequence[VisibilityChange]) -> int:
        """Apply what it can; return how many changes were not applied. Never raises: a message whose visibility
        was not changed simply comes back after the queue's own visibility timeout."""
        ...

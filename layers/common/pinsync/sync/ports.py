"""The ports the sync use case depends on. Adapters in ``pinsync.adapters`` implement them; ``tests/fakes`` fake them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pinsync.sync.ledger import LedgerEntry, LedgerKey
from pinsync.sync.membership import Operation
from pinsync.sync.planning import AudienceMapping


class PinterestAds(Protocol):
    """The customer-list and audience calls of the Pinterest Ads API, bound to one ad account.

    Raises the ``pinsync.core.errors.Pinterest*Error`` family; retries and rate-limit waits happen inside.
    """

    def create_customer_list(self, name: str, records: Sequence[str]) -> str: ...

    def find_customer_list(self, name: str) -> str | None: ...

    def update_customer_list(self, customer_list_id: str, operation: Operation, records: Sequence[str]) -> None: ...

    def create_audience(self, name: str, customer_list_id: str) -> str: ...

    def find_audience(self, name: str) -> str | None: ...


class MappingStore(Protocol):
    """Audience → customer list mappings, and the creation lease that keeps list creation single."""

    def get_mappings(self, audience_ids: Collection[str]) -> dict[str, AudienceMapping]: ...

    def claim_creation(self, audience_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take the creation lease unless a mapping exists or another owner holds an unexpired lease."""
        ...

    def record_customer_list(self, audience_id: str, customer_list_id: str, owner: str) -> None: ...

    def record_audience(self, audience_id: str, pinterest_audience_id: str) -> None: ...

    def release_claim(self, audience_id: str, owner: str) -> None: ...


class MembershipLedger(Protocol):
    """Storage of ledger entries (DynamoDB in production)."""

    def entries(self, keys: Iterable[LedgerKey]) -> dict[LedgerKey, LedgerEntry]: ...

    def held_by_profiles(self, profiles: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """(audience id, profile key) → records currently in the audience for that profile."""
        ...

    def record(self, entries: Sequence[LedgerEntry]) -> None: ...

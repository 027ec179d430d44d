"""The ports the use cases depend on. Adapters in ``pinsync.adapters`` implement them; tests may fake them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pinsync.membership import Operation
from pinsync.planning import AudienceMapping


class PinterestAds(Protocol):
    """The customer-list and audience calls of the Pinterest Ads API, bound to one ad account.

    Raises the ``pinsync.errors.Pinterest*Error`` family; retries and rate-limit waits happen inside.
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


class RunReporter(Protocol):
    """Where the per-invocation dataflow report goes (EventBridge in production)."""

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...

"""Ports more than one function depends on. Adapters in ``pinsync.adapters`` implement them; ``tests/fakes`` fake them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class EventPublisher(Protocol):
    """Where pinsync's reports go (EventBridge in production): ``Dataflow Run`` and ``Token Rotation`` events."""

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...


class AccessTokenSource(Protocol):
    """The Pinterest access token to call with; ``force_refresh`` bypasses any cache (after a 401)."""

    def access_token(self, *, force_refresh: bool = False) -> str: ...

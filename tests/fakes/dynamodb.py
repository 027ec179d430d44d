"""Wrappers around a moto DynamoDB client: DynamoDB's per-item atomicity restored, and calls counted."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class AtomicCalls:
    """DynamoDB applies each conditional write atomically; moto (in-process, and its server's request threads) does
    not lock, so two threads can both pass one condition there. Serialising each call restores the guarantee DynamoDB
    gives. Without it, a race test would measure moto, not pinsync."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


class CountingCalls:
    """The client, counting its calls by operation. ``observe`` sees each call's parameters and answer (the
    ledger benchmark meters capacity units there)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(**params: Any) -> Any:
            self.calls[name] += 1
            response = method(**params)
            self.observe(name, params, response)
            return response

        return call

    def observe(self, operation: str, params: dict[str, Any], response: Any) -> None:
        """Nothing here; a subclass measures what it needs."""

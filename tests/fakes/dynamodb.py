"""DynamoDB's per-item atomicity, restored around a moto client."""

from __future__ import annotations

import threading
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

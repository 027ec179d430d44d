"""A manual clock for tests: time only moves when the test says so."""

from __future__ import annotations

import threading


class ManualClock:
    """Callable clock (`clock()` returns epoch seconds) whose `sleep` advances time instead of blocking."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

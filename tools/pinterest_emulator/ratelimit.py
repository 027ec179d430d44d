"""Token-bucket rate limiter driven by an injectable clock."""

from __future__ import annotations

import math


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored. Not thread-safe (used under the state lock)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def try_take(self, now: float) -> int:
        """Take one token. Return 0 on success, else the whole seconds (>= 1) until a token is available."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))

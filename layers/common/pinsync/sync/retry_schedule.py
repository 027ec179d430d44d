"""How long a message that failed transiently stays hidden before SQS delivers it again: a pure schedule.

A failed message is hidden for a delay that grows with its receive count (SQS ``ApproximateReceiveCount``, 1 on the
first delivery): the *ceiling* of receive ``k`` is ``min(cap, base × 2^(k-1))`` and the delay is drawn uniformly from
the upper half of it, ``[ceil(ceiling / 2), ceiling]`` whole seconds. The jitter spreads the retries of messages that
failed together (one Pinterest outage fails them all at once); keeping it in the upper half, rather than SQS-style
"full jitter" down to 0, gives every delay a floor, so that a number of receives *guarantees* a retry span:

    guaranteed_span(N) = Σ_{k=1..N-1} ceil(ceiling(k) / 2)

is the least time between a message's first delivery and its N-th. A failure that lasts ``horizon`` is outlived when
the last delivery the queue allows (``maxReceiveCount``) comes after it: ``guaranteed_span(maxReceiveCount) >=
horizon``. :meth:`RetrySchedule.receives_needed` is the smallest such ``maxReceiveCount``; template.yaml's defaults
are checked against it (tests/infra), and the sync function warns at a cold start when its queue allows fewer.

The other way round, :meth:`RetrySchedule.longest_time_to_dead_letter` bounds how long a message can stay on the
queue before it is dead-lettered; the queue's ``MessageRetentionPeriod`` must be longer, or SQS would delete a message
still being retried instead of moving it to the dead-letter queue.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

SQS_MAX_VISIBILITY_SECONDS = 43_200  # 12 hours: SQS refuses a longer visibility timeout
_DOUBLINGS_TO_ANY_CAP = 16  # base >= 1 s reaches the 12-hour maximum in 16 doublings


class HorizonOutOfReachError(ValueError):
    """No number of receives covers the horizon (a base of 0 never backs off)."""


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff per receive, capped, jittered over the upper half of each ceiling (whole seconds)."""

    base_seconds: int
    cap_seconds: int = SQS_MAX_VISIBILITY_SECONDS

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or not 0 <= self.cap_seconds <= SQS_MAX_VISIBILITY_SECONDS:
            raise ValueError(f"base must be >= 0 and cap within [0, {SQS_MAX_VISIBILITY_SECONDS}] seconds")

    def ceiling(self, receive_count: int) -> int:
        """The longest delay after the ``receive_count``-th delivery (1 for the first; anything lower counts as 1)."""
        doublings = max(0, receive_count - 1)
        if doublings >= _DOUBLINGS_TO_ANY_CAP and self.base_seconds:
            return self.cap_seconds
        return min(self.cap_seconds, self.base_seconds << doublings)

    def floor(self, receive_count: int) -> int:
        """The shortest delay after the ``receive_count``-th delivery: half its ceiling, rounded up."""
        return math.ceil(self.ceiling(receive_count) / 2)

    def delay(self, receive_count: int, rng: random.Random) -> int:
        """Seconds to hide a message that failed on its ``receive_count``-th delivery, within [floor, ceiling]."""
        return rng.randint(self.floor(receive_count), self.ceiling(receive_count))

    def guaranteed_span(self, receives: int) -> int:
        """Least seconds between the first delivery and the ``receives``-th (0 for one delivery)."""
        return sum(self.floor(k) for k in range(1, receives))

    def longest_span(self, receives: int) -> int:
        """Most seconds of backoff between the first delivery and the ``receives``-th."""
        return sum(self.ceiling(k) for k in range(1, receives))

    def longest_time_to_dead_letter(self, receives: int, visibility_timeout: int) -> int:
        """Most seconds from a message's first delivery until a queue allowing ``receives`` deliveries dead-letters it:
        the backoffs between the deliveries, plus up to the queue's visibility timeout for each delivery (its
        processing, and the last one's timeout, which is not extended: see :meth:`RetryPolicy.visibility`)."""
        return self.longest_span(receives) + receives * visibility_timeout

    def next_retry_within(self, age_seconds: float) -> int:
        """The longest a failing message ``age_seconds`` old may wait for its next delivery: the ceiling after the
        most deliveries it can have had (its delays so far are at least their floors). ``pinsync status`` shows it
        for the oldest message; SQS does not tell a message's remaining visibility without receiving it."""
        receives = 1
        while receives < _DOUBLINGS_TO_ANY_CAP + 1 and self.guaranteed_span(receives + 1) <= age_seconds:
            receives += 1
        return self.ceiling(receives)

    def receives_needed(self, horizon_seconds: float) -> int:
        """The fewest deliveries (``maxReceiveCount``) whose guaranteed span covers ``horizon_seconds``."""
        if horizon_seconds <= 0:
            return 1
        if self.cap_seconds == 0 or self.base_seconds == 0:
            raise HorizonOutOfReachError("a schedule without delays covers no horizon")
        receives, span = 1, 0
        while span < horizon_seconds:
            span += self.floor(receives)
            receives += 1
        return receives


@dataclass(frozen=True)
class RetryPolicy:
    """The schedule applied to one queue: which visibility a failed delivery gets (None: the queue's default)."""

    schedule: RetrySchedule
    max_receive_count: int

    def visibility(self, receive_count: int, rng: random.Random) -> int | None:
        """The visibility timeout for a message that failed transiently on its ``receive_count``-th delivery.

        None on the last delivery the queue allows: nothing would be retried after it, so the message is left to the
        queue's own timeout and reaches the dead-letter queue without waiting out one more backoff.
        """
        if receive_count >= self.max_receive_count:
            return None
        return self.schedule.delay(receive_count, rng)

    def covers(self, horizon_seconds: float) -> bool:
        return self.schedule.guaranteed_span(self.max_receive_count) >= horizon_seconds

"""The per-receive backoff of failed messages: bounds, growth, and the horizon a receive count guarantees."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pinsync.sync.retry_schedule import (
    SQS_MAX_VISIBILITY_SECONDS,
    HorizonOutOfReachError,
    RetryPolicy,
    RetrySchedule,
)

DEFAULT = RetrySchedule(base_seconds=60, cap_seconds=4 * 3600)

schedules = st.builds(
    RetrySchedule,
    base_seconds=st.integers(min_value=0, max_value=SQS_MAX_VISIBILITY_SECONDS),
    cap_seconds=st.integers(min_value=0, max_value=SQS_MAX_VISIBILITY_SECONDS),
)
receive_counts = st.integers(min_value=-1, max_value=2000)


def test_ceilings_double_from_the_base_up_to_the_cap():
    assert [DEFAULT.ceiling(k) for k in range(1, 11)] == [60, 120, 240, 480, 960, 1920, 3840, 7680, 14400, 14400]
    assert DEFAULT.ceiling(1000) == 14400
    assert DEFAULT.ceiling(0) == DEFAULT.ceiling(-3) == 60  # a missing or odd count is a first delivery


def test_delays_are_drawn_from_the_upper_half_of_the_ceiling_and_are_repeatable():
    delays = [DEFAULT.delay(3, random.Random(7)) for _ in range(3)]
    assert delays[0] == delays[1] == delays[2]  # same seed, same delay
    spread = {DEFAULT.delay(3, random.Random(seed)) for seed in range(200)}
    assert min(spread) >= 120 and max(spread) <= 240
    assert len(spread) > 50  # jittered: messages that failed together come back apart


def test_the_default_schedule_needs_twenty_receives_for_a_day():
    assert DEFAULT.receives_needed(24 * 3600) == 20
    assert DEFAULT.guaranteed_span(20) >= 24 * 3600 > DEFAULT.guaranteed_span(19)


def test_a_schedule_without_delays_covers_no_horizon():
    with pytest.raises(HorizonOutOfReachError):
        RetrySchedule(base_seconds=0).receives_needed(1)
    assert RetrySchedule(base_seconds=0).receives_needed(0) == 1


@pytest.mark.parametrize(("base", "cap"), [(-1, 10), (1, -1), (1, SQS_MAX_VISIBILITY_SECONDS + 1)])
def test_a_schedule_outside_what_sqs_accepts_is_refused(base, cap):
    with pytest.raises(ValueError, match="base must be"):
        RetrySchedule(base_seconds=base, cap_seconds=cap)


@given(schedules, receive_counts, st.randoms(use_true_random=False))
def test_a_delay_is_a_visibility_sqs_accepts_and_never_below_its_floor(schedule, receive_count, rng):
    delay = schedule.delay(receive_count, rng)

    assert 0 <= schedule.floor(receive_count) <= delay <= schedule.ceiling(receive_count)
    assert delay <= min(schedule.cap_seconds, SQS_MAX_VISIBILITY_SECONDS)
    assert 2 * schedule.floor(receive_count) >= schedule.ceiling(receive_count)


@given(schedules, st.integers(min_value=1, max_value=200))
def test_ceilings_never_shrink_as_receives_grow(schedule, receive_count):
    assert schedule.ceiling(receive_count) <= schedule.ceiling(receive_count + 1)


@given(
    schedules.filter(lambda s: s.base_seconds > 0 and s.cap_seconds > 0),
    st.integers(min_value=0, max_value=72 * 3600),
    st.randoms(use_true_random=False),
)
def test_the_receives_needed_outlive_the_horizon_whatever_the_jitter(schedule, horizon, rng):
    receives = schedule.receives_needed(horizon)

    # The delivery that comes last is retried after the horizon, however the delays before it were drawn...
    assert sum(schedule.delay(k, rng) for k in range(1, receives)) >= horizon
    # ...and one delivery fewer would not guarantee it.
    if receives > 1:
        assert schedule.guaranteed_span(receives - 1) < horizon
    assert schedule.guaranteed_span(receives) <= schedule.longest_span(receives)


def test_the_last_allowed_delivery_keeps_the_queue_timeout():
    policy = RetryPolicy(DEFAULT, max_receive_count=20)
    rng = random.Random(1)

    assert policy.visibility(1, rng) in range(30, 61)
    assert policy.visibility(19, rng) in range(7200, 14401)
    assert policy.visibility(20, rng) is None  # dead-lettered next: no point hiding it for hours first
    assert policy.visibility(25, rng) is None
    assert policy.covers(24 * 3600)
    assert not RetryPolicy(DEFAULT, max_receive_count=5).covers(24 * 3600)


def test_the_longest_time_to_the_dead_letter_queue_counts_every_delivery():
    # 5 receives: backoffs after the first four (60 + 120 + 240 + 480) and up to 660 s per delivery.
    assert DEFAULT.longest_time_to_dead_letter(5, visibility_timeout=660) == 900 + 5 * 660


@given(st.integers(min_value=1, max_value=30), st.randoms(use_true_random=False))
def test_the_next_retry_bound_of_a_message_of_some_age_is_never_too_short(receive_count, rng):
    # a message that failed on deliveries 1..k-1, with any jitter, then on its k-th: it waits at most ceiling(k)
    age = sum(DEFAULT.delay(k, rng) for k in range(1, receive_count))
    assert DEFAULT.next_retry_within(age) >= DEFAULT.ceiling(receive_count)
    assert DEFAULT.next_retry_within(age) <= DEFAULT.cap_seconds


def test_the_next_retry_bound_grows_with_age_up_to_the_cap():
    assert [DEFAULT.next_retry_within(age) for age in (0, 30, 3600, 5 * 3600)] == [60, 120, 3840, 14400]

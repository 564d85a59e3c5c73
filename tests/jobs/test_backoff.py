from __future__ import annotations

from datetime import timedelta

import pytest

from escrowd.jobs.backoff import BASE, CAP, ceiling, retry_delay, schedule


def test_the_ceiling_doubles_from_two_seconds_per_failed_attempt() -> None:
    assert [ceiling(n).total_seconds() for n in range(1, 7)] == [2, 4, 8, 16, 32, 64]


def test_the_ceiling_stops_at_one_hour() -> None:
    assert ceiling(11) == timedelta(seconds=2048)
    assert ceiling(12) == CAP == timedelta(hours=1)
    assert ceiling(10_000) == CAP


def test_a_delay_is_the_ceiling_scaled_by_the_random_draw() -> None:
    assert retry_delay(3, uniform=lambda: 0.0) == timedelta(0)
    assert retry_delay(3, uniform=lambda: 0.5) == timedelta(seconds=4)
    assert retry_delay(3, uniform=lambda: 0.999) < ceiling(3)


@pytest.mark.parametrize("attempt", [1, 2, 5, 12, 40])
def test_real_random_delays_stay_within_zero_and_the_ceiling(attempt: int) -> None:
    for _ in range(200):
        assert timedelta(0) <= retry_delay(attempt) <= ceiling(attempt)


def test_delays_are_spread_out_not_all_at_the_ceiling() -> None:
    delays = {retry_delay(8).total_seconds() for _ in range(50)}
    assert len(delays) > 40


def test_base_and_cap_can_be_changed() -> None:
    assert ceiling(1, base=timedelta(seconds=10)) == timedelta(seconds=10)
    assert ceiling(3, base=timedelta(seconds=10), cap=timedelta(seconds=30)) == timedelta(
        seconds=30
    )
    assert timedelta(seconds=2) == BASE


def test_the_schedule_lists_one_wait_between_each_pair_of_attempts() -> None:
    waits = schedule(4)
    assert waits == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        ceiling(0)

"""shared/hubspot/rate_budget.py LocalRateBudget, driven by a fake clock and a fake sleep."""

from __future__ import annotations

import pytest

from shared.hubspot.rate_budget import LocalRateBudget

pytestmark = pytest.mark.unit


class FakeTime:
    """A clock that only moves when something sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def budget(per_10s: int = 3, window: float = 10.0) -> tuple[LocalRateBudget, FakeTime]:
    t = FakeTime()
    return LocalRateBudget(per_10s, window=window, clock=t.clock, sleep=t.sleep), t


def test_requests_within_the_budget_do_not_wait() -> None:
    rb, t = budget(3)
    for _ in range(3):
        rb.acquire()
    assert t.sleeps == []
    assert rb.waited == 0


def test_fourth_request_waits_until_the_window_passes() -> None:
    rb, t = budget(3)
    for _ in range(3):
        rb.acquire()
    rb.acquire()

    assert t.sleeps == [pytest.approx(10.0)]
    assert rb.waited == pytest.approx(10.0)
    assert t.now == pytest.approx(1010.0)


def test_wait_counts_from_the_oldest_request_in_the_window() -> None:
    rb, t = budget(3)
    rb.acquire()            # t=0
    t.advance(4)
    rb.acquire()            # t=4
    rb.acquire()            # t=4
    t.advance(2)            # t=6
    rb.acquire()            # the t=0 request leaves the window at t=10

    assert t.sleeps == [pytest.approx(4.0)]
    t.sleeps.clear()
    rb.acquire()            # now t=10; the two t=4 requests leave at t=14
    assert t.sleeps == [pytest.approx(4.0)]


def test_requests_spread_over_time_never_wait() -> None:
    rb, t = budget(3)
    for _ in range(10):
        rb.acquire()
        t.advance(3.5)
    assert t.sleeps == []


def test_at_most_per_window_requests_start_in_any_window() -> None:
    rb, t = budget(5, window=10.0)
    starts = []
    for _ in range(23):
        rb.acquire()
        starts.append(t.now)
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s - start < 10.0]
        assert len(in_window) <= 5


def test_observe_remaining_zero_pauses_for_the_interval() -> None:
    rb, t = budget(100)
    rb.acquire()
    rb.observe({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    rb.acquire()

    assert t.sleeps == [pytest.approx(10.0)]


def test_observe_remaining_one_also_pauses_with_a_custom_interval() -> None:
    rb, t = budget(100)
    rb.observe({"x-hubspot-ratelimit-remaining": "1", "x-hubspot-ratelimit-interval-milliseconds": "2500"})
    rb.acquire()
    assert t.sleeps == [pytest.approx(2.5)]


def test_observe_default_interval_is_ten_seconds() -> None:
    rb, t = budget(100)
    rb.observe({"X-HubSpot-RateLimit-Remaining": "0"})
    rb.acquire()
    assert t.sleeps == [pytest.approx(10.0)]


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"X-HubSpot-RateLimit-Remaining": "57"},
        {"X-HubSpot-RateLimit-Remaining": "lots"},
        {"Content-Type": "application/json"},
    ],
)
def test_observe_without_low_remaining_does_not_pause(headers: dict[str, str] | None) -> None:
    rb, t = budget(100)
    rb.observe(headers)
    rb.acquire()
    assert t.sleeps == []


def test_pause_delays_the_next_request() -> None:
    rb, t = budget(100)
    rb.pause(3.0)
    rb.acquire()
    assert t.sleeps == [pytest.approx(3.0)]
    rb.acquire()
    assert len(t.sleeps) == 1  # the pause is over


def test_long_pause_sleeps_in_window_sized_steps() -> None:
    rb, t = budget(100, window=10.0)
    rb.pause(25.0)
    rb.acquire()
    assert t.sleeps == [pytest.approx(10.0), pytest.approx(10.0), pytest.approx(5.0)]


def test_waited_equals_the_time_slept() -> None:
    rb, t = budget(100, window=10.0)
    rb.pause(25.0)
    rb.acquire()
    assert rb.waited == pytest.approx(sum(t.sleeps))


def test_shorter_pause_does_not_shorten_a_longer_one() -> None:
    rb, t = budget(100)
    rb.pause(8.0)
    rb.pause(2.0)
    rb.acquire()
    assert sum(t.sleeps) == pytest.approx(8.0)


def test_pause_that_already_passed_costs_nothing() -> None:
    rb, t = budget(100)
    rb.pause(2.0)
    t.advance(5.0)
    rb.acquire()
    assert t.sleeps == []

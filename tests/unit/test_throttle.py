"""shared/hubspot/rate_budget.py: pacing to HubSpot's rolling window, on a fake clock.

Expected slot times are worked out by hand from the rule "no window of W seconds holds more
than L starts; a slot waits for the one L places before it to be W + margin old"."""

from __future__ import annotations

import random
import threading

import pytest

from shared.errors import Action, judge
from shared.hubspot.rate_budget import LONGEST_SLOT_WAIT, LocalWindowStore, PacedBudget, Window

pytestmark = pytest.mark.unit

MARGIN_10S = 0.2  # 2% of a 10 s window


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


def budget(per_10s: int = 3, window: float = 10.0, **options) -> tuple[PacedBudget, FakeTime]:
    t = FakeTime()
    return PacedBudget.local(per_10s, window=window, clock=t.clock, sleep=t.sleep, **options), t


def starts_of(rb: PacedBudget, t: FakeTime, n: int) -> list[float]:
    out = []
    for _ in range(n):
        rb.acquire()
        out.append(t.now)
    return out


def most_in_any_window(starts: list[float], window: float) -> int:
    return max(sum(1 for s in starts if first <= s < first + window) for first in starts)


def test_requests_within_the_budget_do_not_wait() -> None:
    rb, t = budget(3)
    starts_of(rb, t, 3)
    assert t.sleeps == []
    assert rb.waited == 0


def test_the_next_request_waits_only_for_the_oldest_to_leave_the_window() -> None:
    rb, t = budget(5)
    starts_of(rb, t, 3)  # t=1000
    t.advance(6)
    starts_of(rb, t, 2)  # t=1006: five in the window
    rb.acquire()  # the first of t=1000 leaves at 1010 (+ margin), not a whole window after t=1006
    assert t.now == pytest.approx(1010 + MARGIN_10S)
    rb.acquire()
    rb.acquire()  # the other two of t=1000 leave then too
    assert t.now == pytest.approx(1010 + MARGIN_10S)
    rb.acquire()  # the fourth waits for the t=1006 pair
    assert t.now == pytest.approx(1016 + MARGIN_10S)


def test_requests_spread_over_time_never_wait() -> None:
    rb, t = budget(3)
    for _ in range(10):
        rb.acquire()
        t.advance(3.5)
    assert t.sleeps == []


@pytest.mark.parametrize("seed", range(5))
def test_no_window_ever_holds_more_than_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    rb, t = budget(7, window=2.0)
    starts = []
    for _ in range(200):
        t.advance(rng.choice([0, 0, 0, 0.01, 0.1, 0.5, 1.5]))
        rb.acquire()
        starts.append(t.now)
    assert most_in_any_window(starts, 2.0) <= 7
    # and it is paced, not paused: 200 requests at 7 per 2 s take about 200 / 3.5 s, not much more
    assert starts[-1] - starts[0] < (200 / 7 + 1) * (2.0 + 0.04) + 1.5 * 30


def test_a_steady_stream_runs_at_the_ceiling() -> None:
    rb, t = budget(20, window=2.0)
    starts = starts_of(rb, t, 2000)
    rate = (len(starts) - 20) / (starts[-1] - starts[0])  # the first window's burst aside
    assert rate == pytest.approx(20 / 2.04, rel=0.01)  # 98% of 10 per s: the margin is the only loss


def test_a_thread_that_wakes_late_takes_a_new_slot_instead_of_crowding_the_window() -> None:
    class Oversleeping(FakeTime):
        def sleep(self, seconds: float) -> None:  # a busy machine: every wait ends 0.3 s late
            super().sleep(seconds + 0.3)

    t = Oversleeping()
    rb = PacedBudget.local(5, window=2.0, clock=t.clock, sleep=t.sleep)
    sent = []
    for _ in range(40):
        rb.acquire()
        sent.append(t.now)  # when the request really starts
    assert most_in_any_window(sent, 2.0) <= 5
    assert rb.stats.late > 0


def test_threads_share_one_queue_of_slots() -> None:
    seen: list[float] = []
    store = LocalWindowStore()
    rb = PacedBudget(50, store, sleep=lambda s: None)  # 50 per 10 s; nobody actually waits
    original = Window.place

    def place(self, now, limit, member=""):
        slot = original(self, now, limit, member)
        seen.append(slot)
        return slot

    Window.place = place  # type: ignore[method-assign]
    try:
        threads = [threading.Thread(target=lambda: [rb.acquire() for _ in range(40)]) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        Window.place = original  # type: ignore[method-assign]
    assert len(seen) == 320
    assert seen == sorted(seen)  # handed out in order
    assert most_in_any_window(seen, 10.0) <= 50


def test_hubspots_max_and_interval_replace_the_configuration() -> None:
    rb, t = budget(100)
    rb.observe({"X-HubSpot-RateLimit-Max": "4", "X-HubSpot-RateLimit-Interval-Milliseconds": "2000",
                "X-HubSpot-RateLimit-Remaining": "4"})
    assert rb.window_seconds() == 2.0
    assert rb.limit() == 4  # min(100 per 10 s = 20 per 2 s, HubSpot's 4)
    starts = starts_of(rb, t, 9)
    assert most_in_any_window(starts, 2.0) <= 4


def test_a_larger_max_never_raises_the_configured_ceiling() -> None:
    rb, _ = budget(100)
    rb.observe({"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    assert rb.limit() == 100


def test_reserve_share_is_left_for_other_integrations() -> None:
    rb, _ = budget(100, reserve_share=0.25)
    assert rb.limit() == 75


def test_others_use_of_the_app_shrinks_the_limit_for_one_window() -> None:
    rb, t = budget(100)
    rb.acquire()
    # HubSpot counts 41 in the window, we started 1: somebody else used 40
    rb.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "59"})
    assert rb.limit() == 60
    t.advance(10.5)
    assert rb.limit() == 100


def test_remaining_that_our_own_requests_explain_changes_nothing() -> None:
    rb, _ = budget(100)
    for used in range(1, 60):
        rb.acquire()
        rb.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": str(100 - used)})
    assert rb.limit() == 100


def test_a_429_holds_everyone_for_the_window_and_shrinks_the_limit() -> None:
    rb, t = budget(100)
    rb.acquire()
    rb.pause(30.0)  # the writer passes its longest in-process wait; the window is what counts
    assert rb.limit() == 85
    t.advance(3.0)
    rb.pause(30.0)  # a second 429 inside the same window does not shrink it again
    assert rb.limit() == 85
    rb.acquire()
    assert t.now == pytest.approx(1003.0 + 10.0)  # held a whole window from the last 429


def test_quiet_windows_give_the_limit_back() -> None:
    rb, t = budget(100)
    rb.pause(10.0)
    assert rb.limit() == 85
    t.advance(20.0)
    assert rb.limit() == 95
    t.advance(30.0)
    assert rb.limit() == 100


def test_the_limit_never_shrinks_below_half() -> None:
    rb, t = budget(100)
    for _ in range(20):
        rb.pause(10.0)
        t.advance(10.0)
        rb.pause(10.0)
    assert rb.limit() >= 50


def test_a_daily_remaining_at_the_reserve_stops_like_hubspots_daily_429() -> None:
    rb, _ = budget(100, daily_reserve=500)
    rb.observe({"X-HubSpot-RateLimit-Daily-Remaining": "501"})
    rb.acquire()
    rb.observe({"X-HubSpot-RateLimit-Daily-Remaining": "500"})
    with pytest.raises(Exception) as exc:
        rb.acquire()
    verdict = judge(exc.value)
    assert verdict.action is Action.DEFER and not verdict.paced and verdict.delay == 3600
    assert "hubspot.daily_reserve" in str(exc.value)


def test_a_slot_too_far_away_goes_back_to_the_queue_and_is_not_kept() -> None:
    rb, t = budget(1)
    rb.pause(10.0)
    store = rb.store
    store.update(lambda w: setattr(w, "hold_until", t.now + LONGEST_SLOT_WAIT + 5))
    with pytest.raises(Exception) as exc:
        rb.acquire()
    assert judge(exc.value).action is Action.DEFER
    assert store.update(lambda w: len(w.starts)) == 0


@pytest.mark.parametrize("headers", [None, {}, {"X-HubSpot-RateLimit-Remaining": "lots"},
                                     {"Content-Type": "application/json"}])
def test_headers_without_rate_information_change_nothing(headers) -> None:
    rb, t = budget(100)
    rb.observe(headers)
    assert rb.limit() == 100
    rb.acquire()
    assert t.sleeps == []


def test_the_window_round_trips_through_json() -> None:
    w = Window(seconds=2.0, hubspot_max=20, starts=[3.0, 1.0], hold_until=5.0, factor=0.85, members={"a": 1.0})
    again = Window.from_dict(w.to_dict())
    assert again.starts == [1.0, 3.0]
    assert (again.seconds, again.hubspot_max, again.factor, again.members) == (2.0, 20, 0.85, {"a": 1.0})


def test_a_429_its_own_full_window_explains_widens_the_gap_instead_of_shrinking_the_limit() -> None:
    rb, t = budget(5)
    starts_of(rb, t, 5)  # hubsync's own slots fill the window; one request reached HubSpot late
    rb.pause(30.0)
    assert rb.limit() == 5  # not shrunk: nobody else is using the app
    margin = rb.store.update(lambda w: w.margin)
    assert margin == pytest.approx(2 * MARGIN_10S)  # the gap between slots doubled
    rb.acquire()
    assert t.now == pytest.approx(1010 + 2 * MARGIN_10S)  # the oldest slot's window, plus the wider gap
    t.advance(60.0)  # quiet windows narrow it again
    assert rb.store.update(lambda w: (w.prune(t.now), w.margin)[1]) < margin

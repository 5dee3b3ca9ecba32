"""HubSpot's rolling-window rate limit, paced for every caller that shares the app's token.

HubSpot lets an app start at most ``Max`` requests in any ``Interval`` (100 or 190 per 10 s,
by tier) and answers 429 beyond. hubsync paces itself to that window instead of pausing when
it gets close: every request gets a *start slot*, the earliest moment at which no rolling
window would hold more than the limit, and waits for it. Slots are handed out in order, so
the requests of a process, or of every process, form one queue.

- ``Window`` is the policy: the slots granted in the last window, what HubSpot has told us
  (its ``Max`` and interval, a 429), and the rule that places the next slot. Pure data.
- ``WindowStore`` keeps one ``Window`` and changes it atomically. ``LocalWindowStore`` is a
  lock in this process; ``shared.hubspot.shared_budget.BlobWindowStore`` is a blob changed
  with ETag conditions, so every Function instance and CLI worker shares one window.
- ``PacedBudget`` is what the writer uses (the ``RateBudget`` protocol): ``acquire`` before
  each request, ``observe`` each answer's headers, ``pause`` after a 429.

The limit a slot is placed against is ``min(ceiling, HubSpot's Max)`` for the window,
less ``reserve_share`` left for the portal's other integrations, less what other callers of
the app are seen to use (HubSpot's ``Remaining`` below what our own slots explain), times a
factor that a ten-second 429 lowers and quiet windows restore. A 429 that hubsync's own
slots explain (they filled the window; one request reached HubSpot later than its slot) widens
the gap between slots instead.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from shared.errors import RetryableError

log = logging.getLogger("hubsync.rate")
T = TypeVar("T")

HUBSPOT_WINDOW = 10.0  # seconds: HubSpot's burst window ("ten_secondly_rolling")
MARGIN_SHARE = 0.02  # of the window, between a slot and the one it waited for (network jitter)
MIN_MARGIN = 0.02  # seconds
THROTTLE_FACTOR = 0.85  # a ten-second 429 shrinks the limit to this share of what it was ...
MIN_FACTOR = 0.5  # ... never below half ...
RECOVERY_PER_WINDOW = 0.05  # ... and each window without one gives back this much
MAX_JITTER_SHARE = 0.1  # of the window: the most a 429 of hubsync's own timing widens the gap between slots
JITTER_DECAY_WINDOWS = 5  # windows after which that widening halves
OUTSIDE_NOISE = 2  # requests: a smaller gap between Remaining and our own count is timing noise
LONGEST_SLOT_WAIT = 300.0  # seconds: a request that would wait longer goes back to the queue
MAX_LATE_SLOTS = 3  # slots a thread may miss by waking late before it sends on the next one anyway


class RateBudget(Protocol):
    """What the HubSpot writer asks of a request budget."""

    def acquire(self) -> None:
        """Block until one more request fits in the budget."""
        ...

    def pause(self, seconds: float) -> None:
        """HubSpot answered 429 for its rolling window: send nothing for ``seconds``."""
        ...

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Adapt to the rate-limit headers of an answer."""
        ...


@dataclass
class Window:
    """The slots granted in the rolling window and what HubSpot said about it.

    Times are seconds on the store's clock (wall-clock time for a shared store: instances on
    different machines compare them; a few milliseconds of skew are inside the margin)."""

    seconds: float = HUBSPOT_WINDOW
    hubspot_max: int | None = None  # X-HubSpot-RateLimit-Max, for ``seconds``
    starts: list[float] = field(default_factory=list)  # sorted
    hold_until: float = 0.0
    factor: float = 1.0
    factor_at: float = 0.0  # when ``factor`` was last lowered or restored
    outside: int = 0  # requests per window other callers of the app are seen to make
    outside_until: float = 0.0
    jitter: float = 0.0  # margin added after 429s that hubsync's own timing explains
    jitter_at: float = 0.0
    members: dict[str, float] = field(default_factory=dict)  # instance -> last slot it took

    def prune(self, now: float) -> None:
        """Forget slots that left the window, and members gone for two windows."""
        cut = now - self.seconds - self.margin
        drop = 0
        while drop < len(self.starts) and self.starts[drop] <= cut:
            drop += 1
        del self.starts[:drop]
        self.members = {k: v for k, v in self.members.items() if v > now - 2 * self.seconds}
        if self.outside and now >= self.outside_until:
            self.outside = 0
        if self.jitter and now - self.jitter_at >= JITTER_DECAY_WINDOWS * self.seconds:
            self.jitter = self.jitter / 2 if self.jitter > MIN_MARGIN else 0.0
            self.jitter_at = now
        if self.factor < 1.0 and now - self.factor_at >= self.seconds:
            windows = math.floor((now - self.factor_at) / self.seconds)
            self.factor = min(1.0, self.factor + RECOVERY_PER_WINDOW * windows)
            self.factor_at = now

    @property
    def margin(self) -> float:
        return max(MIN_MARGIN, MARGIN_SHARE * self.seconds) + self.jitter

    def limit(self, now: float, ceiling_per_10s: float, reserve_share: float, share: float = 1.0) -> int:
        """How many requests hubsync may start in one window now."""
        self.prune(now)
        base = ceiling_per_10s * self.seconds / HUBSPOT_WINDOW
        if self.hubspot_max is not None:
            base = min(base, self.hubspot_max)
        base = base * (1.0 - reserve_share) - self.outside
        return max(1, math.floor(base * self.factor * share))

    def place(self, now: float, limit: int, member: str = "") -> float:
        """Grant the next slot: the earliest time, no earlier than the last slot granted, at which
        no rolling window holds more than ``limit`` slots. Returns it."""
        self.prune(now)
        slot = max(now, self.hold_until, self.starts[-1] if self.starts else now)
        if len(self.starts) >= limit:
            slot = max(slot, self.starts[-limit] + self.seconds + self.margin)
        self.starts.append(slot)
        if member:
            self.members[member] = slot
        return slot

    def sent_before(self, now: float) -> int:
        """Slots in the window that ends at ``now`` (requests HubSpot has counted by then)."""
        return sum(1 for s in self.starts if now - self.seconds < s <= now)

    def learn(self, seconds: float | None, hubspot_max: int | None, outside: int | None, now: float) -> None:
        """What HubSpot's headers said: its window and limit, and others' use of the app."""
        if seconds and seconds > 0:
            self.seconds = seconds
        if hubspot_max:
            self.hubspot_max = hubspot_max
        if outside is not None and outside >= self.outside:
            self.outside = outside
            self.outside_until = now + self.seconds

    def throttled(self, now: float, hold: float, limit: int) -> None:
        """HubSpot answered 429 for its window.

        When hubsync's own slots fill the window (``limit`` of them in the last window), its own
        timing explains the refusal: a request reached HubSpot later than its slot said (network,
        a busy machine). The gap between slots widens (up to a tenth of the window; it narrows
        again after quiet windows) and the next request waits that long. Otherwise someone else
        is using the app's limit: nothing starts until ``hold`` (at most a window) has passed,
        and the limit shrinks (once per window, however many requests were refused)."""
        if self.sent_before(now) >= limit:
            base = max(MIN_MARGIN, MARGIN_SHARE * self.seconds)
            self.jitter = min(MAX_JITTER_SHARE * self.seconds, max(2 * self.jitter, base))
            self.jitter_at = now
            self.hold_until = max(self.hold_until, now + self.margin)
            return
        self.hold_until = max(self.hold_until, now + min(hold, self.seconds))
        if now - self.factor_at >= self.seconds or self.factor == 1.0:
            self.factor = max(MIN_FACTOR, self.factor * THROTTLE_FACTOR)
            self.factor_at = now

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "hubspot_max": self.hubspot_max, "starts": self.starts,
                "hold_until": self.hold_until, "factor": self.factor, "factor_at": self.factor_at,
                "outside": self.outside, "outside_until": self.outside_until, "jitter": self.jitter,
                "jitter_at": self.jitter_at, "members": self.members}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        known = {k: data[k] for k in cls().to_dict() if k in data}
        window = cls(**known)
        window.starts = sorted(float(s) for s in window.starts)
        return window


class WindowStore(Protocol):
    """Keeps one ``Window`` and applies changes to it atomically."""

    clock: Callable[[], float]

    def update(self, change: Callable[[Window], T]) -> T:
        """Apply ``change`` to the window atomically and return what it returned."""
        ...

    def share(self) -> float:
        """The part of the limit this caller may use (1.0 unless a shared store is unreachable)."""
        ...


class LocalWindowStore:
    """The window of one process, shared by its threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: Window | None = None) -> None:
        self.clock = clock
        self._window = window or Window()
        self._lock = threading.Lock()

    def update(self, change: Callable[[Window], T]) -> T:
        with self._lock:
            return change(self._window)

    def share(self) -> float:
        return 1.0


@dataclass
class BudgetStats:
    """What the budget did, for progress lines and benchmarks."""

    requests: int = 0
    throttled: int = 0  # 429s for the rolling window
    waited: float = 0.0  # thread-seconds spent waiting for a slot
    late: int = 0  # slots left unused because the thread woke too long after them


class PacedBudget:
    """Paces requests to HubSpot's rolling window, through ``store``.

    ``ceiling_per_10s`` is the app's limit (``hubspot.requests_per_10s``); ``reserve_share``
    of it is left for the portal's other integrations; ``daily_reserve`` requests of the daily
    limit are never used: below it every request stops as HubSpot's own daily 429 would."""

    def __init__(self, ceiling_per_10s: float, store: WindowStore | None = None, reserve_share: float = 0.0,
                 daily_reserve: int = 0, member: str = "",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.ceiling = ceiling_per_10s
        self.reserve_share = reserve_share
        self.daily_reserve = daily_reserve
        self.store: WindowStore = store or LocalWindowStore()
        self.member = member
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stats = BudgetStats()
        self._daily_remaining: int | None = None

    @classmethod
    def local(cls, per_window: int, window: float = HUBSPOT_WINDOW, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep, **options: Any) -> PacedBudget:
        """A budget for the threads of one process: ``per_window`` requests per ``window`` seconds."""
        store = LocalWindowStore(clock, Window(seconds=window))
        return cls(per_window * HUBSPOT_WINDOW / window, store, sleep=sleep, **options)  # type: ignore[arg-type]

    @property
    def waited(self) -> float:
        return self.stats.waited

    def limit(self) -> int:
        """Requests hubsync may start in the current window, as things stand."""
        share, now = self.store.share(), self.store.clock()
        return self.store.update(lambda w: w.limit(now, self.ceiling, self.reserve_share, share))

    def window_seconds(self) -> float:
        return self.store.update(lambda w: w.seconds)

    def acquire(self) -> None:
        """Wait for the next start slot."""
        remaining = self._daily_remaining
        if remaining is not None and remaining <= self.daily_reserve:
            raise RetryableError(
                f"HubSpot's daily API limit has {remaining} requests left, at or below hubspot.daily_reserve "
                f"({self.daily_reserve}) kept for the portal's other integrations; it resets at midnight in the "
                "portal's time zone", retry_after=3600.0, status=429, quota_exhausted=True)
        share = self.store.share()
        clock = self.store.clock
        for attempt in range(MAX_LATE_SLOTS + 1):

            def take(w: Window) -> tuple[float, float]:
                now = clock()  # when the window is read: a shared store's round trip comes before it
                slot = w.place(now, w.limit(now, self.ceiling, self.reserve_share, share), self.member)
                if slot - now > LONGEST_SLOT_WAIT:
                    w.starts.remove(slot)
                return slot, w.margin

            slot, margin = self.store.update(take)
            wait = slot - clock()
            if wait > LONGEST_SLOT_WAIT:
                raise RetryableError(f"the shared HubSpot budget has no slot for {wait:.0f} s", retry_after=wait,
                                     status=429)
            if wait > 0:
                self._sleep(wait)
            with self._lock:
                self.stats.waited += max(0.0, wait)
            # a thread that woke well after its slot (a busy machine) would start its request where the
            # slot after next may already be: the slot is left unused (it still counts) and a new one taken
            if clock() - slot <= margin or attempt == MAX_LATE_SLOTS:
                break
            with self._lock:
                self.stats.late += 1
        with self._lock:
            self.stats.requests += 1

    def pause(self, seconds: float) -> None:
        share, now = self.store.share(), self.store.clock()
        with self._lock:
            self.stats.throttled += 1
        self.store.update(lambda w: w.throttled(now, seconds, w.limit(now, self.ceiling, self.reserve_share, share)))

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Learn HubSpot's window and limit, others' use of the app, and the daily remainder."""
        if not headers:
            return
        lower = {k.lower(): v for k, v in headers.items()}
        daily = _int(lower.get("x-hubspot-ratelimit-daily-remaining"))
        if daily is not None:
            self._daily_remaining = daily
        hubspot_max = _int(lower.get("x-hubspot-ratelimit-max"))
        interval = _int(lower.get("x-hubspot-ratelimit-interval-milliseconds"))
        remaining = _int(lower.get("x-hubspot-ratelimit-remaining"))
        if hubspot_max is None and interval is None and remaining is None:
            return
        now = self.store.clock()

        def learn(w: Window) -> None:
            outside = None
            if remaining is not None and (hubspot_max or w.hubspot_max):
                used = (hubspot_max or w.hubspot_max or 0) - remaining
                gap = used - w.sent_before(now)
                outside = gap if gap > OUTSIDE_NOISE else None
            w.learn(interval / 1000 if interval else None, hubspot_max, outside, now)

        self.store.update(learn)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

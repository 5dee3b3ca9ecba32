"""Request budgets for HubSpot's rolling ten-second limit.

``RateBudget`` is what the writer needs of a budget. ``LocalRateBudget`` is the one
implementation today, shared by a process's threads: it spaces calls so that at most
``per_10s`` start in any ten seconds, and adapts to what HubSpot says (when
``X-HubSpot-RateLimit-Remaining`` runs low, or after a 429, it waits for the window to pass).
A budget shared by every Function instance is a later step and implements the same protocol;
until then set ``hubspot.requests_per_10s`` to the portal's limit divided by the instances
you allow.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol


class RateBudget(Protocol):
    """What the HubSpot writer asks of a request budget."""

    def acquire(self) -> None:
        """Block until one more request fits in the budget."""
        ...

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (HubSpot answered 429)."""
        ...

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Adapt to the rate-limit headers of an answer."""
        ...


class LocalRateBudget:
    """A rolling-window budget for the threads of one process."""

    def __init__(self, per_10s: int, window: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_window = per_10s
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self.waited = 0.0

    def acquire(self) -> None:
        """Block until one more request fits in the budget."""
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                wait = max(0.0, self._paused_until - now)
                if not wait and len(self._starts) < self.per_window:
                    self._starts.append(now)
                    return
                if not wait:
                    wait = self.window - (now - self._starts[0])
            step = min(wait, self.window)
            self.waited += step
            self._sleep(step)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Adapt to HubSpot's rate-limit headers."""
        if not headers:
            return
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            remaining = int(lower.get("x-hubspot-ratelimit-remaining", ""))
            interval = int(lower.get("x-hubspot-ratelimit-interval-milliseconds", "10000")) / 1000
        except ValueError:
            return
        if remaining <= 1:
            self.pause(interval)

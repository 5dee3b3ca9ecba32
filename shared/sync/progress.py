"""Progress of a run that nobody watches on a terminal (CI, a scheduler, a container log).

``Progress`` counts what a run does as it goes (rows read, batches done, HubSpot calls and
429s, from the writer and its budget); ``ProgressTicker`` writes one line every ``every``
seconds with the rate of calls against the budget, so a long backfill shows it is moving and
whether HubSpot's limit or hubsync is what holds it back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.sync_logger import log_event

log = logging.getLogger("hubsync.progress")


@dataclass
class Progress:
    writer: HubSpotWriter
    batches_total: int | None = None
    rows: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read(self, rows: int) -> None:
        with self._lock:
            self.rows += rows

    def batch_done(self) -> None:
        with self._lock:
            self.batches += 1

    def snapshot(self) -> dict[str, float | int | None]:
        budget = self.writer.budget
        stats = getattr(budget, "stats", None)
        limit = budget.limit() if hasattr(budget, "limit") else None
        window = budget.window_seconds() if hasattr(budget, "window_seconds") else None
        return {"rows": self.rows, "batches": self.batches, "batches_total": self.batches_total,
                "calls": self.writer.api_calls, "throttled": stats.throttled if stats else 0,
                "budget_per_s": round(limit / window, 2) if limit and window else None,
                "elapsed_s": round(time.monotonic() - self.started, 1)}


def progress_line(now: dict, before: dict | None) -> str:
    """One line: totals so far, and the call rate since the last line against the budget."""
    total = f"/{now['batches_total']}" if now.get("batches_total") is not None else ""
    text = (f"progress: {now['rows']} rows read, {now['batches']}{total} batches, {now['calls']} calls, "
            f"{now['throttled']} answered 429")
    if before is not None and now["elapsed_s"] > before["elapsed_s"]:
        rate = (now["calls"] - before["calls"]) / (now["elapsed_s"] - before["elapsed_s"])
        budget = f" of a {now['budget_per_s']}/s budget" if now.get("budget_per_s") else ""
        text += f", {rate:.1f} calls/s{budget}"
    return text + f" ({now['elapsed_s']:.0f} s)"


class ProgressTicker:
    """Writes a progress line every ``every`` seconds (to the log, and to ``write`` when given)
    until stopped."""

    def __init__(self, progress: Progress, every: float = 10.0, write: Callable[[str], None] | None = None) -> None:
        self.progress = progress
        self.every = every
        self._write = write
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hubsync-progress", daemon=True)
        self._last: dict | None = None

    def __enter__(self) -> ProgressTicker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.tick()  # the last line: where the run ended

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.tick()

    def tick(self) -> str:
        now = self.progress.snapshot()
        line = progress_line(now, self._last)
        self._last = now
        log_event(log, logging.INFO, "progress", **{k: v for k, v in now.items() if v is not None})
        if self._write:
            self._write(line)
        return line

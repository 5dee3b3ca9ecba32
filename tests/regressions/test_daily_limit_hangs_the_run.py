"""When the portal's daily API limit is spent, HubSpot answers 429 with policyName DAILY. The
classifier turns that into ``RetryableError(retry_after=3600)``; the writer then pauses the
shared rate budget for an hour and its retry loop sleeps that hour between attempts (max_attempts
of them), and after that the handler defers the batch by another hour, up to 20 times. ``hubsync
run`` (and every worker thread) blocks for hours instead of stopping with exit 3 as the README
says it does when HubSpot fails every delivery; in Azure the invocation outlives host.json's
10-minute functionTimeout, so each delivery is killed and the batch ends in the poison store."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from hubspot_emulator import Emulator
from shared.errors import judge
from shared.sync.run import run_sync
from tests.conftest import TOKEN
from tests.regressions.helpers import make_runtime
from tests.support import create_customers


def test_daily_limit_stops_the_run_instead_of_sleeping_for_hours(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 3)
    requested: list[float] = []
    # the schema fetch is the day's last allowed call; the batch upsert meets the DAILY limit
    with Emulator(token=TOKEN, daily_limit=1) as emulator:
        rt = make_runtime(engine, emulator, sleep=requested.append)  # the writer's back-off: recorded, not slept
        outcome: dict[str, object] = {}

        def go() -> None:
            try:
                outcome["result"] = run_sync(rt, workers=1, base_backoff=0.01)
            except BaseException as err:  # noqa: BLE001
                outcome["error"] = err

        worker = threading.Thread(target=go, daemon=True)  # left behind if it hangs
        worker.start()
        worker.join(20)
        finished = not worker.is_alive()
        paused_for = rt.writer.budget.store.update(lambda w: w.hold_until) - time.monotonic()

    assert finished, (f"run still going after 20 s: the writer asked to sleep {requested} s between attempts "
                      f"and the shared rate budget is paused for another {paused_for:.0f} s")
    # it stopped because of the daily limit, said so, and left the work for tomorrow's run
    assert "error" not in outcome, f"run_sync raised instead of stopping: {outcome['error']!r}"
    result = outcome["result"]
    assert result.drain.fatal is not None and "daily" in str(result.drain.fatal).lower()
    assert judge(result.drain.fatal).exit_code == 3
    assert result.run["status"] == "failed" and rt.state.get_position("contacts") is None
    assert result.drain.poisoned == 0 and rt.state.list_poison() == []

"""Issue 8.9: a killed `hubsync run` (in-process queue) stayed `enqueued` for ever, its batches
`queued`. The next run now closes it as `abandoned`, with the reason, and syncs its rows."""

from __future__ import annotations

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import create_customers


def test_the_next_run_closes_a_killed_run_and_syncs_its_rows(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 20)
    killed = make_runtime(engine, emulator)
    plan = killed.planner(save_positions=False).plan("cli")  # planned, then the process was killed
    assert killed.state.get_run(plan.run_id)["status"] == "enqueued"

    later = make_runtime(engine, emulator)  # a new process: a new, empty in-process queue
    result = run_sync(later, base_backoff=0.01)

    old = later.state.get_run(plan.run_id)
    assert old["status"] == "abandoned" and "ended before its batches were done" in old["error"]
    assert later.state.open_batches(plan.run_id) == 0
    assert result.run["status"] == "finished" and result.run["created"] == 20

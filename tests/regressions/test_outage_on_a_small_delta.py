"""Issue 8.4: a HubSpot outage (503 on every call) during a 59-row delta parked the one batch after
its deliveries, the run exited 1 and finished, the watermark moved, and a plain run afterwards
exited 0 with those rows never sent. An outage must stop the run (exit 3) and leave the work to
the next run, whatever the delta's size."""

from __future__ import annotations

import sqlalchemy as sa

from shared.errors import judge
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import create_customers


def test_an_outage_on_a_one_batch_delta_stops_the_run_and_the_next_run_sends_it(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 59)
    rt = make_runtime(engine, emulator)
    emulator.inject_fault(503, times=10_000, path_contains="batch/upsert")

    down = run_sync(rt, workers=4, base_backoff=0.01)

    assert down.drain.fatal is not None and judge(down.drain.fatal).exit_code == 3
    assert down.drain.poisoned == 0 and rt.state.list_poison() == []
    assert down.run["status"] == "failed"
    assert rt.state.get_position("contacts") is None  # the watermark did not move

    emulator.clear_faults()
    up = run_sync(rt, workers=4, base_backoff=0.01)

    assert up.drain.fatal is None and up.run["rows_read"] == 59  # read again: the watermark had not moved
    # (this process's in-memory queue still held the first run's message too; a new CLI process would not)
    counts = rt.state.outcome_counts("contacts")
    # the leftover message and the new one both ran (the workers start while the planner reads): each
    # row was written by one and found written, or updated, by the other; never "adopted"
    synced = counts.get("created", 0) + counts.get("updated", 0) + counts.get("unchanged", 0)
    assert synced == 58 and counts["rejected"] == 1  # row 37
    assert "adopted" not in counts and "failed" not in counts
    assert len(emulator.records("contacts")) == 58

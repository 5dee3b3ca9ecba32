"""Each delivery of a batch adds its settled rows (rejected, missing, unchanged) and its writes
to the run's counters again, so a batch that is retried (5xx, timeout, 429 deferral) counts
the same rows twice."""

from __future__ import annotations

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import BAD_EMAIL, create_customers


def test_a_retried_batch_does_not_count_its_rows_twice(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 40)  # row 37 has a malformed email: rejected before sending
    rt = make_runtime(engine, emulator)  # hubspot.max_attempts 3
    emulator.inject_fault(503, times=3, path_contains="batch/upsert")  # first delivery fails, second succeeds

    result = run_sync(rt, workers=1, base_backoff=0.01)

    run = result.run
    assert result.drain.retried == 1
    settled = sum(run[k] for k in ("created", "updated", "unchanged", "rejected", "failed", "missing"))
    upsert_calls = sum(1 for c in emulator.calls if c[1].endswith("/batch/upsert"))
    assert upsert_calls == 4
    every_call = len(emulator.calls)  # the worker's schema fetch and the 4 upserts
    got = (run["rows_read"], run["created"], run["rejected"], settled, run["api_calls"])
    # 4 upsert calls reached HubSpot (3 refused with 503, 1 accepted): all count toward its limits
    assert got == (40, 39, 1, 40, every_call), f"(rows_read, created, rejected, settled, api_calls) = {got}"
    assert BAD_EMAIL == 37


def test_a_replayed_batch_is_not_counted_both_failed_and_created(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 10)
    rt = make_runtime(engine, emulator)  # max_attempts 3, max_dequeue_count 3
    emulator.inject_fault(500, times=9, path_contains="batch/upsert")
    first = run_sync(rt, workers=1, base_backoff=0.01, give_up_after=1000)  # as the Functions host: it parks
    assert first.run["failed"] == 10 and len(rt.state.list_poison()) == 1

    parked = rt.state.list_poison()[0]
    assert rt.handler().handle(parked["body"]) == "done"

    run = rt.state.get_run(first.plan.run_id)
    counted = run["created"] + run["updated"] + run["unchanged"] + run["rejected"] + run["failed"] + run["missing"]
    assert counted == run["rows_read"], (
        f"rows_read={run['rows_read']} but created={run['created']} failed={run['failed']}")

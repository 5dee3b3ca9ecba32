"""The CLI's drain claims the queue trigger's semantics, but it leases a message only for
``queue.visibility_timeout_seconds`` (30 s by default) and never renews the lease. The
Functions host keeps a message invisible while its invocation runs. A batch that takes
longer than the lease (HubSpot's 10 s waits on 429s x max_attempts already exceed 30 s)
becomes visible again and a second worker thread processes the same batch concurrently."""

from __future__ import annotations

import time

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers


def test_a_slow_batch_is_not_processed_twice_by_concurrent_workers(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 5)
    config = config_dict()
    # scaled down: a 1 s lease and one 2 s back-off stand for the 30 s lease and HubSpot's 3 x 10 s
    config["queue"]["visibility_timeout_seconds"] = 1
    config["hubspot"]["max_attempts"] = 2
    rt = make_runtime(engine, emulator, config=config, sleep=time.sleep)
    emulator.inject_fault(503, path_contains="batch/upsert")

    result = run_sync(rt, workers=2, base_backoff=0.01)

    accepted = [c for c in emulator.calls if c[1].endswith("/batch/upsert") and c[2] == 200]
    run = result.run
    assert len(accepted) == 1 and run["created"] + run["updated"] == run["rows_read"], (
        f"{len(accepted)} accepted upserts of one batch; rows_read={run['rows_read']} "
        f"created={run['created']} updated={run['updated']}"
    )

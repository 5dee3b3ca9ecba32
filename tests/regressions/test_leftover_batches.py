"""Issue 8.9: a run that drains batches an earlier run left on a durable queue reported 0 read and
0 written, as their rows count in the earlier run. It now says how many earlier batches it
finished, and those rows are counted where they belong. And the watermark overlap must not queue
those waiting rows a second time (a backlog would grow with every timer run)."""

from __future__ import annotations

import random

from shared.queue.backends import StorageQueue
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers


def test_a_run_that_finishes_an_earlier_runs_batches_says_so(pg_engine, pg_schema, emulator, azurite):
    create_customers(pg_engine, 250, schema=pg_schema)
    name = f"left{random.randrange(10**8)}"
    storage = {"AzureWebJobsStorage": azurite}
    queues = {"queue": StorageQueue.connect(name, storage, create=True),
              "poison_queue": StorageQueue.connect(name + "-poison", storage, create=True)}
    data = config_dict(table=f"{pg_schema}.customers", state_schema=f"{pg_schema}_state", backend="azure")
    earlier = make_runtime(pg_engine, emulator, config=data, **queues)
    planned = earlier.planner().plan("timer")  # the timer enqueued; its workers never ran

    later = make_runtime(pg_engine, emulator, config=data, **queues)
    result = run_sync(later, workers=2, base_backoff=0.01)

    assert result.plan.batches == 0 and result.earlier_batches == planned.batches == 4  # pages of 137: 100+37, 100+13
    old = later.state.get_run(planned.run_id)
    assert old["status"] == "finished" and old["created"] == 250 - 7  # 37, 73, 91, 137, 173, 191, 237 are invalid

"""Two workers that finish a run's last two batches at the same moment: each transaction sees the
other's batch still open until it commits, so without a lock neither closed the run and it stayed
'enqueued' for ever (seen once in the full suite, after the run counters moved to the commit).
The second now waits on the run's row and closes it."""

from __future__ import annotations

import threading
import time

from shared.state import StateStore


def test_the_last_of_two_concurrent_batches_closes_the_run(pg_engine, pg_schema) -> None:
    state = StateStore(pg_engine, f"{pg_schema}_state")
    state.init_db()
    state.start_run("r1", "cli")
    state.record_batch("b1", "r1", "contacts", 100)
    state.record_batch("b2", "r1", "contacts", 100)
    state.set_run_status("r1", "enqueued")

    first_done = threading.Event()
    finished: dict[str, bool] = {}
    errors: list[BaseException] = []

    def worker(batch: str, hold: float) -> None:
        try:
            with state.transaction(keep_open=True):
                state.add_counts("r1", created=100)  # held for the commit, as a worker's save does
            finished[batch] = state.batch_done("r1", batch, api_calls=1)
            if batch == "b1":
                first_done.set()
                time.sleep(hold)  # b2's transaction runs while this one is still open
            state.commit_held()
        except BaseException as err:  # noqa: BLE001 - reported below: a helper thread's failure fails the test
            errors.append(err)
            state.rollback_held()
            first_done.set()

    one = threading.Thread(target=worker, args=("b1", 0.5))
    one.start()
    assert first_done.wait(10)
    two = threading.Thread(target=worker, args=("b2", 0))
    two.start()
    one.join(10)
    two.join(10)

    assert not errors, errors
    run = state.get_run("r1")
    assert run["status"] == "finished", run
    assert finished == {"b1": False, "b2": True}
    assert run["created"] == 200 and run["api_calls"] == 2

"""The stale-write repair relies on the *save* of the older payload being refused because the
newer version was already recorded. It cannot see the other order: the newer delivery (B)
writes to HubSpot first, the older delivery (A, a retried batch of an earlier run) writes after
it, but A records its outcome before B does (B's state transaction is a few statements longer,
or waits on a lock). A's guarded update succeeds (nothing newer recorded yet), B's succeeds too
(its version is higher), and the state ends claiming B's payload while HubSpot holds A's older
one. Nothing ever repairs it: the row's hash matches, so no later run sends it again.

Here B's window between its HubSpot write and its state write is widened by pausing B right
after HubSpot answered it (a slow state database does the same); the race needs only that ordering.

Fixed by claiming each record in state before sending (records.sending_version): A, saving after
its write, sees that B claimed a newer version meanwhile, so its own write may have landed last,
and it sends the row again from SQL. This was a strict expected failure until then."""

from __future__ import annotations

import random
import threading
import time

import sqlalchemy as sa

from shared.queue.backends import MemoryQueue
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers, customer, update_customers


def _wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_older_write_landing_last_is_repaired_even_when_saved_first(pg_engine, pg_schema, emulator):
    state_schema = f"{pg_schema}_state"
    table = create_customers(pg_engine, 3, schema=pg_schema)
    update_customers(pg_engine, table, [2], status="X")              # row 2 starts invalid: rejected
    config = config_dict(table=f"{pg_schema}.customers", state_schema=state_schema)
    queue, poison = MemoryQueue("q-review2"), MemoryQueue("q-review2-poison")
    backing_off, resume = threading.Event(), threading.Event()

    def slow_backoff(_seconds: float) -> None:
        backing_off.set()
        resume.wait(15)

    instance_a = make_runtime(pg_engine, emulator, config=config, queue=queue, poison_queue=poison,
                              sleep=slow_backoff)
    instance_b = make_runtime(pg_engine, emulator, config=config, queue=queue, poison_queue=poison)
    try:
        assert run_sync(instance_b).run["rejected"] == 1

        update_customers(pg_engine, table, [2], status="A", last_name="Mid")   # fixed: version a
        instance_a.planner(save_positions=True).plan("timer")
        msg_a = queue.receive(1)[0]
        emulator.inject_fault(503, path_contains="batch/upsert")           # A's first upsert: 503, back-off
        thread_a = threading.Thread(target=instance_a.handler().handle, args=(msg_a.body, 1, msg_a.id))
        thread_a.start()
        assert backing_off.wait(15)                                        # A mapped 'Mid' and waits

        update_customers(pg_engine, table, [2], last_name="Newer")         # version b
        with pg_engine.begin() as conn:                                    # and a new customer 4
            top = conn.execute(sa.select(sa.func.max(table.c.row_version))).scalar_one()
            conn.execute(table.insert().values({**customer(4, random.Random(4)), "vip": 0, "row_version": top + 1}))
        instance_b.planner(save_positions=True).plan("timer")              # run B: rows 2 (b) and 4
        msg_b = queue.receive(1)[0]

        real_upsert = instance_b.writer.upsert
        b_wrote, b_resume = threading.Event(), threading.Event()

        def upsert_then_pause(*args, **kwargs):  # B's write lands, then B is slow to save it
            answer = real_upsert(*args, **kwargs)
            b_wrote.set()
            b_resume.wait(15)
            return answer

        instance_b.writer.upsert = upsert_then_pause
        thread_b = threading.Thread(target=instance_b.handler().handle, args=(msg_b.body, 1, msg_b.id))
        thread_b.start()
        assert b_wrote.wait(15)                                            # B wrote HubSpot, waits to save
        assert emulator.find("contacts", "email", "user2@example.com")["properties"]["lastname"] == "Newer"

        resume.set()                                                       # A's retry: 'Mid' lands last
        thread_a.join(15)                                                  # and A saves first
        assert not thread_a.is_alive()
        b_resume.set()                                                     # B records version b
        thread_b.join(15)
        assert not thread_b.is_alive()
        queue.delete(msg_a)
        queue.delete(msg_b)
        later = run_sync(instance_b)                                       # a later run repairs nothing

        record = instance_b.state.get_records("contacts", ["[2]"])["[2]"]
        lastname = emulator.find("contacts", "email", "user2@example.com")["properties"]["lastname"]
    finally:
        resume.set()
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{state_schema}" CASCADE'))

    assert lastname == "Newer", (f"HubSpot holds lastname {lastname!r} while the state records version "
                                 f"{record.source_version} ({record.last_outcome}) as accepted; the next run read "
                                 f"{later.run['rows_read']} rows")

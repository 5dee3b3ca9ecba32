"""Two deliveries touching one row at once (a batch of an earlier run still being retried
while the next run's batch for the same row is processed, e.g. on another Function
instance): the older delivery mapped the row before it changed and sends that payload after
the newer one was written. HubSpot ends with the older data, while the state (which refuses
to go back to the older version) records the newer payload as accepted, so no later run
ever repairs it."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from shared.queue.backends import MemoryQueue
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import create_customers, update_customers


def test_an_older_payload_never_overwrites_a_newer_one(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 3)
    queue, poison = MemoryQueue("q-review"), MemoryQueue("q-review-poison")
    backing_off, resume = threading.Event(), threading.Event()

    def slow_backoff(seconds: float) -> None:  # the writer's retry back-off (HubSpot asked to wait)
        backing_off.set()
        resume.wait(10)

    instance_a = make_runtime(engine, emulator, queue=queue, poison_queue=poison, sleep=slow_backoff)
    instance_b = make_runtime(engine, emulator, queue=queue, poison_queue=poison)

    instance_a.planner(save_positions=True).plan("timer")            # run 1: rows 1-3, version 1
    first = queue.receive(1)[0]
    emulator.inject_fault(503, path_contains="batch/upsert")         # its first upsert meets a 503
    worker_a = threading.Thread(target=instance_a.handler().handle, args=(first.body, 1, first.id))
    worker_a.start()
    assert backing_off.wait(10)

    update_customers(engine, table, [2], last_name="Newer")          # the row changes meanwhile
    instance_b.planner(save_positions=True).plan("timer")            # run 2: row 2, version 2
    second = queue.receive(1)[0]
    assert instance_b.handler().handle(second.body, 1, second.id) == "done"
    queue.delete(second)                                              # as the host does on success
    assert emulator.find("contacts", "email", "user2@example.com")["properties"]["lastname"] == "Newer"

    resume.set()                                                      # run 1's retry goes out
    worker_a.join(10)
    queue.delete(first)

    later = run_sync(instance_b)                                      # and nothing repairs it later
    contact = emulator.find("contacts", "email", "user2@example.com")
    record = instance_b.state.get_records("contacts", ["[2]"])["[2]"]
    assert contact["properties"]["lastname"] == "Newer", (
        f"HubSpot holds {contact['properties']['lastname']!r}; state says version {record.source_version} "
        f"({record.last_outcome}) is synced; the next run read {later.run['rows_read']} rows"
    )

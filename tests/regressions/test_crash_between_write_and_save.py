"""Issue 8.2: a worker killed right after HubSpot answered and before the state save, then emails
changed in SQL: the redelivered batch upserted by the new emails and left a second contact per
row. Each record is now claimed in state (with its version and the id value it is sent under)
before the call, so the redelivery finds the record the lost write made and updates it."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa

from shared.keys import key_to_json
from tests.regressions.helpers import make_runtime
from tests.support import create_customers, update_customers


class Killed(BaseException):
    """The process dies: nothing after this point runs (not even `except Exception`)."""


def test_a_redelivery_after_a_crash_updates_the_records_the_lost_write_made(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 30)
    rt = make_runtime(engine, emulator)
    rt.planner(save_positions=True).plan("timer")
    [body] = rt.queue.peek_all()
    real_upsert = rt.writer.upsert

    def upsert_then_die(*args, **kwargs):
        real_upsert(*args, **kwargs)  # HubSpot made the contacts ...
        raise Killed                  # ... and the worker died before saving

    rt.writer.upsert = upsert_then_die
    with contextlib.suppress(Killed):
        rt.handler().handle(body, 1, "m1")
    made = {r["properties"]["email"]: r["id"] for r in emulator.records("contacts")}
    assert len(made) == 30  # every row is valid (the invalid ones are 37, 73, 91)
    update_customers(engine, table, list(range(1, 11)), email=lambda cid: f"new{cid}@example.com")

    rt.writer.upsert = real_upsert
    rt.handler().handle(body, 2, "m1")  # the queue delivers the batch again

    contacts = emulator.records("contacts")
    assert len(contacts) == 30, sorted(r["properties"]["email"] for r in contacts)
    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    for i in range(1, 11):
        rec = records[key_to_json([i])]
        assert rec.hubspot_id == made[f"user{i}@example.com"], (i, rec)  # the same contact, not a second one
        assert emulator.get_record("contacts", rec.hubspot_id)["properties"]["email"] == f"new{i}@example.com"
    assert {r.last_outcome for r in records.values()} <= {"created", "updated"}  # ours: not "adopted"

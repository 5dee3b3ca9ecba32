"""Issue 8.3: parking an older run's batch after a newer run synced its rows set those rows to
`failed` (and counted them failed), although HubSpot holds their newest version."""

from __future__ import annotations

import sqlalchemy as sa

from shared.keys import encode_version, key_to_json
from shared.queue.messages import BatchMessage, KeyRef
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import create_customers, update_customers


def test_a_late_park_leaves_rows_a_newer_run_synced(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 10)
    rt = make_runtime(engine, emulator)
    rt.state.start_run("old-run", "timer")
    old = BatchMessage(run_id="old-run", batch_id="old-run:contacts:0", object="contacts",
                       keys=[KeyRef(k=[i], v=encode_version("integer", i)) for i in (1, 2, 3)])
    rt.state.record_batch(old.batch_id, "old-run", "contacts", 3)
    update_customers(engine, table, [2], first_name="Newer")  # row 2 moves on after the old batch was planned
    newer = run_sync(rt, base_backoff=0.01)  # a newer run syncs every row, row 2 at its newer version
    assert newer.run["created"] == 10

    rt.handler().park(old.to_json(), "m1", 5, queue="q-poison")  # the old batch reaches the poison queue

    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    assert [records[key_to_json([i])].last_outcome for i in (1, 2, 3)] == ["created"] * 3
    assert rt.state.get_run("old-run")["failed"] == 0
    assert len(rt.state.list_poison()) == 1  # the message itself is still kept


def test_a_park_still_marks_rows_no_run_has_synced(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 3)
    rt = make_runtime(engine, emulator)
    rt.state.start_run("r", "timer")
    msg = BatchMessage(run_id="r", batch_id="r:contacts:0", object="contacts",
                       keys=[KeyRef(k=[i], v=encode_version("integer", i)) for i in (1, 2)])
    rt.state.record_batch(msg.batch_id, "r", "contacts", 2)

    rt.handler().park(msg.to_json(), "m1", 5, queue="q-poison")

    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    assert [records[key_to_json([i])].last_outcome for i in (1, 2)] == ["failed", "failed"]
    assert rt.state.get_run("r")["failed"] == 2

"""A full re-read (`hubsync run --full`) queues only rows whose SQL values or mapping changed since
HubSpot accepted them: unchanged rows cost no message, no mapping in the worker and no call,
yet a row edited without moving its watermark, a changed mapping, a changed portal property type,
or a newer version still on its way to HubSpot are all sent again."""

from __future__ import annotations

import sqlalchemy as sa

from shared.config import parse_config
from shared.keys import key_to_json
from shared.sync.run import run_sync
from tests.e2e.test_convergence import _runtime
from tests.support import BAD_EMAIL, BAD_STATUS, BAD_TIER, config_dict, create_customers, emulator_writes

N = 300
INVALID = [i for i in range(1, N + 1) if i % 100 in (BAD_EMAIL, BAD_STATUS, BAD_TIER)]


def _queued_rows(rt, run_id: str) -> int:
    """How many rows the run's messages carried, from the batches the planner recorded."""
    b = rt.state.batches.c
    with rt.state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.sum(b.size), 0)).where(b.run_id == run_id)).scalar_one()


def _edit_behind_the_watermark(engine, table, cid: int, last_name: str) -> None:
    """An UPDATE that forgets to move the watermark (an import script, a DBA's fix)."""
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.customer_id == cid).values(last_name=last_name))


def test_unchanged_rows_are_not_queued_and_an_edit_behind_the_watermark_is_sent(source_db, emulator):
    engine, schema = source_db
    table = create_customers(engine, N, schema)
    rt = _runtime(engine, emulator, table=f"{schema}.customers" if schema else "customers",
                  state_schema=f"{schema}_state" if schema else "hubsync")
    first = run_sync(rt, workers=2)
    assert first.run["created"] == N - len(INVALID)
    _edit_behind_the_watermark(engine, table, 5, "Behind")
    calls_before = len(emulator_writes(emulator))

    again = run_sync(rt, full=True, workers=2)

    # queued: the edited row, and the rejected rows (they have no HubSpot record to compare with)
    assert _queued_rows(rt, again.plan.run_id) == 1 + len(INVALID)
    assert again.run["rows_read"] == N
    assert again.run["updated"] == 1
    assert again.run["unchanged"] == N - len(INVALID) - 1
    assert again.run["rejected"] == len(INVALID)
    assert len(emulator_writes(emulator)) - calls_before == 1
    assert emulator.find("contacts", "email", "user5@example.com")["properties"]["lastname"] == "Behind"

    # nothing changed since: a second full re-read queues only the rejected rows and calls nothing
    third = run_sync(rt, full=True)
    assert _queued_rows(rt, third.plan.run_id) == len(INVALID)
    assert third.run["unchanged"] == N - len(INVALID)
    assert len(emulator_writes(emulator)) - calls_before == 1


def test_a_changed_mapping_or_property_type_resends_every_row(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, N)
    rt = _runtime(engine, emulator)
    run_sync(rt, workers=2)
    valid = N - len(INVALID)

    # the mapping changes: a constant property is added to every row
    data = config_dict()
    data["objects"][0]["fields"]["jobtitle"] = {"constant": "Engineer"}
    rt.config = parse_config(data)
    changed = run_sync(rt, full=True, workers=2)
    assert _queued_rows(rt, changed.plan.run_id) == N
    assert changed.run["updated"] == valid
    assert emulator.find("contacts", "email", "user2@example.com")["properties"]["jobtitle"] == "Engineer"

    # the same mapping again: nothing to send
    same = run_sync(rt, full=True, workers=2)
    assert _queued_rows(rt, same.plan.run_id) == len(INVALID)

    # the portal changes a mapped property's type: payloads may format differently, so all go again
    emulator.add_property("contacts", {"name": "customer_tier", "label": "Tier", "type": "string",
                                       "fieldType": "text", "groupName": "contactinformation"})
    rt = _runtime(engine, emulator)  # a new process: the portal's schema is read afresh
    rt.config = parse_config(data)
    retyped = run_sync(rt, full=True, workers=2)
    assert _queued_rows(rt, retyped.plan.run_id) == N


def test_a_row_whose_newer_version_is_being_sent_is_queued(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, N)
    rt = _runtime(engine, emulator)
    run_sync(rt, workers=2)
    # a delivery of a newer version of row 7 is in flight (claimed, its answer not yet saved)
    key = key_to_json((7,))
    recorded = rt.state.get_records("contacts", [key])[key]
    rt.state.claim_sends("contacts", [(key, recorded.source_version + "z", None)])

    plan = rt.planner(save_positions=False).plan("cli", full=True)

    assert _queued_rows(rt, plan.run_id) == len(INVALID) + 1
    bodies = [m.body for m in rt.queue.receive(max_messages=32)]
    assert any('[7]' in body for body in bodies)


def test_a_forgotten_hash_is_queued(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, N)
    rt = _runtime(engine, emulator)
    run_sync(rt, workers=2)
    rt.state.forget_hash("contacts", key_to_json((8,)))

    plan = rt.planner(save_positions=False).plan("cli", full=True)

    assert _queued_rows(rt, plan.run_id) == len(INVALID) + 1

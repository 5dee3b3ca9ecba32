"""The whole sync converges: SQL (SQLite, PostgreSQL) -> queue (in-process, Azurite) ->
HubSpot (the emulator, through the official SDK)."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from shared.queue.backends import StorageQueue
from shared.runtime import Runtime
from shared.settings import Settings
from shared.sync.run import run_sync
from tests.conftest import TOKEN
from tests.support import (
    BAD_EMAIL,
    BAD_STATUS,
    BAD_TIER,
    assert_converged,
    config_for,
    create_customers,
    emulator_writes,
    update_customers,
)

N = 1000


def _runtime(engine, emulator, backend="memory", azurite=None, state_schema="hubsync", settings=None, **kw):
    config = config_for(backend=backend, state_schema=state_schema, **kw)
    settings = settings or Settings(hubspot_token=SecretStr(TOKEN), queue_name=f"q{random.randrange(10**8)}",
                                    storage_connection=SecretStr(azurite) if azurite else None)
    queues = {}
    if backend == "azure":  # the rate window is shared through the same account's blob service
        storage = {"AzureWebJobsStorage": azurite}
        queues = {
            "queue": StorageQueue.connect(settings.queue_name, storage, create=True),
            "poison_queue": StorageQueue.connect(settings.poison_queue_name, storage, create=True),
        }
    rt = Runtime.build(settings, config, engine=engine, hubspot_base_url=emulator.base_url,
                       client_side_validation=True, sleep=lambda s: None, **queues)
    rt.state.init_db()
    return rt


@pytest.fixture
def source(source_db):
    return source_db


def test_first_run_converges_then_second_run_sends_only_changed_rows(source, emulator):
    engine, schema = source
    table = create_customers(engine, N, schema)
    table_name = f"{schema}.customers" if schema else "customers"
    rt = _runtime(engine, emulator, table=table_name, state_schema=f"{schema}_state" if schema else "hubsync")

    first = run_sync(rt, workers=4)

    invalid = sum(1 for i in range(1, N + 1) if i % 100 in (BAD_EMAIL, BAD_STATUS, BAD_TIER))
    assert first.run["rows_read"] == N
    assert first.run["created"] == N - invalid
    assert first.run["rejected"] == invalid
    assert first.run["failed"] == 0 and first.run["status"] == "finished"
    tally = assert_converged(rt, emulator, table)
    assert tally == {"synced": N - invalid, "rejected": invalid}
    assert len(emulator.records("contacts")) == N - invalid

    # 1% of the rows change in SQL: the next run sends exactly those
    changed = random.Random(5).sample([i for i in range(1, N + 1) if i % 100 not in (37, 73, 91)], N // 100)
    update_customers(engine, table, changed, last_name=lambda cid: f"Changed{cid}")
    writes_before = len(emulator_writes(emulator))

    second = run_sync(rt, workers=4)

    assert second.run["rows_read"] == len(changed)
    assert second.run["updated"] == len(changed)
    assert second.run["created"] == 0 and second.run["rejected"] == 0
    assert len(emulator_writes(emulator)) - writes_before == 1  # ten rows: one batch call
    assert assert_converged(rt, emulator, table)["synced"] == N - invalid

    # nothing changed: a third run reads nothing and writes nothing
    third = run_sync(rt)
    assert third.run["rows_read"] == 0
    assert len(emulator_writes(emulator)) - writes_before == 1


def test_converges_through_azurite_storage_queue(sqlite_url, emulator, azurite):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 300)
    rt = _runtime(engine, emulator, backend="azure", azurite=azurite)

    result = run_sync(rt, workers=3)

    assert result.run["rows_read"] == 300
    assert result.run["batches"] == 5  # pages of 137 rows: 100 + 37, 100 + 37, 26
    assert_converged(rt, emulator, table)
    assert rt.queue.approximate_count() == 0
    # a durable queue saves the position per page; the next run reads nothing
    assert run_sync(rt).run["rows_read"] == 0


def test_email_change_updates_the_same_contact(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 20)
    rt = _runtime(engine, emulator)
    run_sync(rt)
    before = emulator.find("contacts", "email", "user5@example.com")
    assert before is not None

    update_customers(engine, table, [5], email="renamed5@example.com")
    result = run_sync(rt)

    assert result.run["updated"] == 1 and result.run["created"] == 0
    after = emulator.find("contacts", "email", "renamed5@example.com")
    assert after is not None and after["id"] == before["id"]
    assert emulator.find("contacts", "email", "user5@example.com") is None
    assert len(emulator.records("contacts")) == 20  # one contact per row, none added
    assert_converged(rt, emulator, table)


def test_two_rows_claiming_one_email_are_not_merged(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 10)
    update_customers(engine, table, [4], email="user3@example.com")
    rt = _runtime(engine, emulator)

    result = run_sync(rt)

    assert result.run["rejected"] == 1
    rec = {r.source_key: r for r in rt.state.all_records("contacts")}
    rejected = [r for r in rec.values() if r.last_outcome == "rejected"]
    assert len(rejected) == 1 and "already synced from source key" in rejected[0].reason
    assert_converged(rt, emulator, table)


def test_transient_hubspot_failures_are_retried_and_converge(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 250)
    rt = _runtime(engine, emulator)
    emulator.inject_fault(503, times=2, path_contains="batch/upsert")
    emulator.inject_fault(429, times=1, path_contains="batch/upsert")

    result = run_sync(rt, workers=2, base_backoff=0.01)

    assert result.run["failed"] == 0
    statuses = [c[2] for c in emulator.calls if "batch/upsert" in c[1]]
    assert statuses.count(503) == 2 and statuses.count(429) == 1
    assert_converged(rt, emulator, table)


def test_a_bad_row_hubspot_refuses_is_isolated_from_its_batch(sqlite_url, emulator):
    """A value the local validation cannot know is wrong (the portal says it is) fails
    HubSpot's whole batch; the batch is split until that row alone is rejected."""
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 100)
    # annualrevenue 'n/a' passes no transform here (plain column) but HubSpot refuses it
    config = config_for()
    fields = dict(config.objects[0].fields)
    rt = _runtime(engine, emulator)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET first_name = :v WHERE customer_id = 50"), {"v": "x" * 70000})

    result = run_sync(rt)

    rec = {r.source_key: r for r in rt.state.all_records("contacts")}
    assert rec["[50]"].last_outcome == "rejected"
    assert "65536" in rec["[50]"].reason or "65,536" in rec["[50]"].reason
    assert result.run["created"] == 100 - 4  # rows 37, 73, 91 (invalid) and row 50 (refused by HubSpot)
    assert fields  # the configuration maps first_name without a length guard
    assert_converged(rt, emulator, table, refused={50})


def test_batches_that_keep_failing_are_parked_durably_and_replay_after_the_fix(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 150)
    rt = _runtime(engine, emulator)
    emulator.inject_fault(500, times=1000, path_contains="batch/upsert")

    result = run_sync(rt, workers=2, base_backoff=0.01, give_up_after=1000)  # as the Functions host: never gives up

    assert result.run["failed"] == 146  # every valid row (37, 73, 91, 137 are rejected before sending)
    parked = rt.state.list_poison()
    assert len(parked) == 3  # pages of 137: 100 + 37, 13
    assert all("500" in (p["error"] or "") for p in parked)
    assert all("@" not in p["body"] for p in parked)  # keys only: no personal data parked
    failed = [r for r in rt.state.all_records("contacts") if r.last_outcome == "failed"]
    assert len(failed) == 146 and all(r.reason for r in failed)

    emulator.clear_faults()
    handler = rt.handler()
    for p in parked:
        assert handler.handle(p["body"]) == "done"
        rt.state.mark_replayed(p["id"])
    assert rt.state.list_poison() == []
    assert_converged(rt, emulator, table)


def test_a_hubspot_outage_stops_the_run_early_and_the_next_run_resumes(sqlite_url, emulator):
    """The CLI does not burn every batch's attempts into the poison store during an outage: it
    stops, leaves the watermark, and the next run sends everything."""
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 450)
    rt = _runtime(engine, emulator)
    emulator.inject_fault(503, times=10_000, path_contains="batch/upsert")

    down = run_sync(rt, workers=2, base_backoff=0.01)

    assert down.drain.fatal is not None and "failed deliveries in a row" in str(down.drain.fatal)
    assert down.run["status"] == "failed" and "failed deliveries" in down.run["error"]
    assert rt.state.list_poison() == []
    assert rt.state.get_position("contacts") is None  # the watermark did not move
    calls_during_outage = len(emulator.calls)
    assert calls_during_outage < 60  # 5 batches x 3 deliveries x 3 attempts would be 45+ before any parking

    emulator.clear_faults()
    up = run_sync(rt, workers=2)
    assert up.run["rows_read"] == 450 and up.drain.fatal is None
    assert_converged(rt, emulator, table)


def test_retry_rejected_sends_rows_again_after_the_mapping_is_fixed(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 100)
    rt = _runtime(engine, emulator)
    first = run_sync(rt)
    assert first.run["rejected"] == 3  # rows 37 (email), 73 (status X), 91 (tier platinum)

    # the business adds the missing status mapping and the tier option
    from shared.config import parse_config
    from tests.support import config_dict

    data = config_dict()
    data["objects"][0]["fields"]["lifecyclestage"]["transform"] = {"map": {"A": "customer", "P": "lead",
                                                                           "X": "other"}}
    emulator.add_property("contacts", {"name": "customer_tier", "label": "Tier", "type": "enumeration",
                                       "fieldType": "select", "hubspotDefined": False,
                                       "options": [{"label": v, "value": v} for v in
                                                   ("bronze", "silver", "gold", "platinum")]})
    fixed = Runtime.build(rt.settings, parse_config(data), engine=engine, hubspot_base_url=emulator.base_url,
                          sleep=lambda s: None)
    assert run_sync(fixed).run["rows_read"] == 0  # nothing changed in SQL: a plain run sends nothing

    again = run_sync(fixed, retry_rejected=True)

    assert again.run["rows_read"] == 3 and again.run["created"] == 2 and again.run["rejected"] == 1
    still = [r for r in fixed.state.all_records("contacts") if r.last_outcome == "rejected"]
    assert [r.source_key for r in still] == ["[37]"] and "email" in still[0].reason
    assert_converged(fixed, emulator, table, statuses={"A": "customer", "P": "lead", "X": "other"},
                     tiers=frozenset({"bronze", "silver", "gold", "platinum"}))

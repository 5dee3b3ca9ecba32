"""HubSpot's batch/upsert can answer 207 with ``results: []`` and a VALIDATION_ERROR
(shared/hubspot-api.md). The SDK returns a 207, it does not raise; the worker then records
nothing for the rows that are not in ``results`` and marks the batch done."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import create_customers


def _upsert_207_body() -> dict:
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    detail = [{"isValid": False, "message": "Email address user2@example.com is invalid",
               "error": "INVALID_EMAIL", "name": "email"}]
    return {
        "status": "COMPLETE", "results": [], "numErrors": 1,
        "errors": [{
            "status": "error", "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: " + json.dumps(detail),
            "context": {}, "errors": [], "links": {},
        }],
        "requestedAt": now, "startedAt": now, "completedAt": now,
    }


def test_upsert_207_with_errors_does_not_lose_rows(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 5)
    rt = make_runtime(engine, emulator)
    emulator.inject_fault(207, path_contains="batch/upsert", body=_upsert_207_body())

    result = run_sync(rt, workers=1, base_backoff=0.01)

    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    with engine.connect() as conn:
        keys = [f"[{cid}]" for cid in conn.execute(sa.select(table.c.customer_id)).scalars()]
    # every row must be synced, or rejected/failed with a reason
    lost = [k for k in keys if k not in records or not records[k].last_outcome]
    counts = {k: result.run[k] for k in ("rows_read", "created", "rejected", "failed")}
    assert not lost, (
        f"rows {lost} have no state at all; run counts={counts}, "
        f"status={result.run['status']}, HubSpot holds {len(emulator.records('contacts'))} records, "
        f"next run reads {run_sync(rt).run['rows_read']} rows (watermark already moved)"
    )
    # and precisely: the 207 named user2's email, so row 2 went alone and the others together; the
    # fault was one answer only, so HubSpot then accepted every row: all five are created, none lost
    assert {k: records[k].last_outcome for k in keys} == {k: "created" for k in keys}
    assert sorted(r["properties"]["email"] for r in emulator.records("contacts")) == [
        f"user{i}@example.com" for i in range(1, 6)]
    assert result.run["api_calls"] == 4  # schema, the 207, the four others, row 2 alone

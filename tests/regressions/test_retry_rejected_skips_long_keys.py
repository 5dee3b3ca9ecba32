"""``hubsync run --retry-rejected`` re-queues the rows last rejected or failed, rebuilding each
key from ``records.source_key``. A key whose JSON is longer than 400 characters is stored as
its start plus a sha256 (``key_to_json``), which cannot be turned back into the key, so
``Planner._plan_retries`` silently skips it: after the operator fixes the mapping, such a row
is never re-sent, nothing says so, and the run exits 0 ("every row synced") while
``hubsync status --rejected`` still lists the row with its old reason."""

from __future__ import annotations

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime

LONG = "C" * 450


def _config(status_map: dict[str, str]) -> dict:
    return {
        "version": 1,
        "source": {"state_schema": "hubsync", "page_size": 100},
        "hubspot": {"mode": "live", "requests_per_10s": 1000, "max_attempts": 2},
        "queue": {"backend": "memory", "max_dequeue_count": 2, "visibility_timeout_seconds": 5},
        "objects": [{
            "name": "contacts", "object_type": "contacts", "table": "accounts", "key": ["code"],
            "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "email",
            "fields": {"email": {"column": "email", "transform": ["trim", "email"], "required": True},
                       "lifecyclestage": {"column": "status", "transform": {"map": status_map}}},
        }],
    }


def test_retry_rejected_reports_rows_with_long_keys_it_cannot_resend(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    md = sa.MetaData()
    table = sa.Table("accounts", md, sa.Column("code", sa.String(1000), primary_key=True),
                     sa.Column("email", sa.String(200)), sa.Column("status", sa.String(4)),
                     sa.Column("row_version", sa.BigInteger, nullable=False))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"code": "A1", "email": "a1@example.com", "status": "P", "row_version": 1},
            {"code": LONG, "email": "long@example.com", "status": "P", "row_version": 2},
        ])
    first = run_sync(make_runtime(engine, emulator, config=_config({"A": "customer"})))
    assert first.run["rejected"] == 2  # 'P' has no mapping yet

    fixed = make_runtime(engine, emulator, config=_config({"A": "customer", "P": "lead"}))
    retried = run_sync(fixed, retry_rejected=True)

    # a very long key is stored only as a hash, so it cannot be re-read by key: the run must not
    # report clean, and the row's old reason stays until the row changes
    assert [r["properties"]["email"] for r in emulator.records("contacts")] == ["a1@example.com"]
    assert retried.run["rejected"] == 1 and not retried.clean
    still = [r for r in fixed.state.all_records("contacts") if r.last_outcome == "rejected"]
    assert len(still) == 1 and "#sha256:" in still[0].source_key

"""The planner accepts any key that fits a queue message (~48 KB; it even splits batches of
long keys), but ``records.source_key`` is NVARCHAR(400)/VARCHAR(400). On PostgreSQL and
SQL Server one row whose key JSON exceeds 400 characters makes every state write of its batch
fail: the whole batch (up to 100 good rows) is retried, poisoned, and parking it fails too."""

from __future__ import annotations

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime


def test_one_long_key_does_not_take_its_batch_down(pg_engine, pg_schema, emulator):
    md = sa.MetaData(schema=pg_schema)
    table = sa.Table(
        "accounts", md,
        sa.Column("code", sa.String(1000), primary_key=True),
        sa.Column("email", sa.String(200)),
        sa.Column("row_version", sa.BigInteger, nullable=False),
    )
    md.create_all(pg_engine)
    codes = ["A1", "B2", "C" * 450]
    with pg_engine.begin() as conn:
        conn.execute(table.insert(), [{"code": c, "email": f"acct{i}@example.com", "row_version": i + 1}
                                      for i, c in enumerate(codes)])
    config = {
        "version": 1,
        "source": {"state_schema": f"{pg_schema}_state", "page_size": 100},
        "hubspot": {"mode": "live", "requests_per_10s": 1000, "max_attempts": 1},
        "queue": {"backend": "memory", "max_dequeue_count": 2, "visibility_timeout_seconds": 5},
        "objects": [{
            "name": "contacts", "object_type": "contacts", "table": f"{pg_schema}.accounts", "key": ["code"],
            "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "email",
            "fields": {"email": {"column": "email", "transform": ["trim", "email"], "required": True}},
        }],
    }
    rt = make_runtime(pg_engine, emulator, config=config)
    try:
        try:
            outcome = f"run counts {run_sync(rt, workers=1, base_backoff=0.01).run}"
        except Exception as err:  # noqa: BLE001 - the defect: the run itself blows up
            outcome = f"run_sync raised {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        records = {r.source_key: r for r in rt.state.all_records("contacts")}
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{pg_schema}_state" CASCADE'))

    synced_in_hubspot = len(emulator.records("contacts"))
    recorded = sorted(k for k, r in records.items() if r.hubspot_id)
    assert len(recorded) == 3 and recorded[:2] == ['["A1"]', '["B2"]'], (
        f"{outcome}; HubSpot holds {synced_in_hubspot} contacts, the state records {recorded}")

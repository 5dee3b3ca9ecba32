"""README: "`timestamp` watermarks re-read the rows sharing the last timestamp". The planner
saves the last (version, key) of a run, and the next run resumes strictly after that key, so
a row committed later with the same timestamp and a smaller key is never read."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)
T1 = dt.datetime(2024, 5, 1, 12, 0, 1)


def _table(engine: sa.Engine) -> sa.Table:
    md = sa.MetaData()
    table = sa.Table(
        "people", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(200)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("updated_at", sa.DateTime, nullable=False),  # second precision, like datetime2(0)
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"id": i, "email": f"p{i}@example.com", "last_name": f"Old{i}", "updated_at": T0 if i <= 5 else T1}
            for i in range(1, 11)
        ])
    return table


def _config() -> dict:
    return {
        "version": 1,
        "source": {"state_schema": "hubsync", "page_size": 100},
        "hubspot": {"mode": "live", "requests_per_10s": 1000, "max_attempts": 3},
        "queue": {"backend": "memory", "max_dequeue_count": 3, "visibility_timeout_seconds": 5},
        "objects": [{
            "name": "contacts", "object_type": "contacts", "table": "people", "key": ["id"],
            "watermark": {"column": "updated_at", "kind": "timestamp"},
            "id_property": "email",
            "fields": {"email": {"column": "email", "transform": ["trim", "email"], "required": True},
                       "lastname": {"column": "last_name"}},
        }],
    }


def test_timestamp_watermark_rereads_rows_sharing_the_last_timestamp(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = _table(engine)
    rt = make_runtime(engine, emulator, config=_config())
    first = run_sync(rt)
    assert first.run["created"] == 10

    # row 3 changes in a transaction that commits just after the first run read, within the
    # same second as the last row it read (second-precision timestamp): updated_at == T1
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 3).values(last_name="Changed3", updated_at=T1))

    second = run_sync(rt)

    contact = emulator.find("contacts", "email", "p3@example.com")
    assert contact["properties"]["lastname"] == "Changed3", (
        f"second run read {second.run['rows_read']} rows; HubSpot still holds "
        f"{contact['properties']['lastname']!r}; saved position {rt.state.get_position('contacts')}"
    )

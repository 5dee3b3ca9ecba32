"""Issue 8.1: integer and timestamp watermarks skipped rows of slow transactions. On PostgreSQL a
transaction takes version 31 and stays open; another takes 32 and commits; a run moves the
watermark to 32; the first commits; every later run read 0 rows. Each run now reads again
`watermark.overlap` behind the saved position (versions, or seconds), and rows state already has
at their version cost nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from shared.config import parse_config
from shared.keys import Position, encode_version
from shared.source.sql_reader import WatermarkDelta
from shared.source.table import SourceTable
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers


def _firstname(emulator, email: str) -> str | None:
    found = [r for r in emulator.records("contacts") if r["properties"].get("email") == email]
    return found[0]["properties"].get("firstname") if found else None


@pytest.mark.parametrize(("overlap", "synced"), [(None, True), (0, False)])
def test_a_row_committed_after_a_later_version_is_still_synced(pg_engine, pg_schema, emulator, overlap, synced):
    table = create_customers(pg_engine, 30, schema=pg_schema)
    data = config_dict(table=f"{pg_schema}.customers", state_schema=f"{pg_schema}_state")
    data["objects"][0]["watermark"]["overlap"] = overlap
    rt = make_runtime(pg_engine, emulator, config=data)
    run_sync(rt, base_backoff=0.01)

    slow = pg_engine.connect()
    slow_tx = slow.begin()  # takes version 31 and stays open
    slow.execute(table.update().where(table.c.customer_id == 5).values(first_name="Slow", row_version=31))
    with pg_engine.begin() as fast:  # takes 32 and commits first
        fast.execute(table.update().where(table.c.customer_id == 6).values(first_name="Fast", row_version=32))
    middle = run_sync(rt, base_backoff=0.01)
    slow_tx.commit()
    slow.close()
    later = run_sync(rt, base_backoff=0.01)

    assert middle.run["updated"] == 1 and _firstname(emulator, "user6@example.com") == "Fast"
    assert (_firstname(emulator, "user5@example.com") == "Slow") is synced
    assert later.run["updated"] == (1 if synced else 0)
    assert later.run["rows_read"] == (1 if synced else 0)  # the overlap's other rows cost nothing
    again = run_sync(rt, base_backoff=0.01)
    assert again.run["rows_read"] == 0 and again.run["api_calls"] == 0


def test_overlap_start_moves_back_by_versions_or_seconds(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    create_customers(engine, 1)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE stamped (customer_id INTEGER PRIMARY KEY, email TEXT, changed DATETIME)"))
    ints = parse_config(config_dict()).objects[0]
    delta = WatermarkDelta(SourceTable(engine, ints))
    assert delta.overlap_start(Position(encode_version("integer", 5000), (7,))) == Position(
        encode_version("integer", 4000), None)
    assert delta.overlap_start(Position(encode_version("integer", 10))) == Position(encode_version("integer", 0))

    data = config_dict(table="stamped")
    data["objects"][0]["watermark"] = {"column": "changed", "kind": "timestamp", "overlap": 90}
    data["objects"][0]["fields"] = {"email": {"column": "email"}}
    stamped = WatermarkDelta(SourceTable(engine, parse_config(data).objects[0]))
    saved = Position(encode_version("timestamp", dt.datetime(2026, 1, 1, 0, 1, 0)), (3,))
    assert stamped.overlap_start(saved) == Position(encode_version("timestamp", dt.datetime(2025, 12, 31, 23, 59, 30)))

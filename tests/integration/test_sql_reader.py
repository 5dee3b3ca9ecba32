"""Delta reading and state against real databases: SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.config import parse_config
from shared.errors import SourceError
from shared.keys import Position, encode_version, key_to_json
from shared.source.sql_reader import WatermarkDelta
from shared.source.table import SourceTable
from shared.state import RecordState, StateStore
from tests.support import config_dict, create_customers, update_customers


@pytest.fixture
def db(source_db):
    return source_db


def _obj(schema, **changes):
    data = config_dict(table=f"{schema}.customers" if schema else "customers")
    data["objects"][0].update(changes)
    return parse_config(data).objects[0]


def test_delta_pages_cover_every_row_once_in_watermark_order(db):
    engine, schema = db
    create_customers(engine, 1234, schema)
    table = WatermarkDelta(SourceTable(engine, _obj(schema)))

    pages = list(table.iter_delta(None, 100))

    keys = [r.key[0] for page in pages for r in page]
    assert len(pages) == 13 and all(len(p) <= 100 for p in pages)
    assert keys == list(range(1, 1235))
    versions = [r.version for page in pages for r in page]
    assert versions == sorted(versions)


def test_delta_resumes_after_a_position_and_sees_later_updates(db):
    engine, schema = db
    t = create_customers(engine, 50, schema)
    table = WatermarkDelta(SourceTable(engine, _obj(schema)))
    first = [r for page in table.iter_delta(None, 20) for r in page]
    position = Position(first[-1].version, None)
    update_customers(engine, t, [3, 40], last_name="x")

    later = [r.key[0] for page in table.iter_delta(position, 20) for r in page]

    assert later == [3, 40]


def test_keyset_pagination_with_ties_on_the_watermark_and_a_composite_key(db):
    engine, schema = db
    md = sa.MetaData(schema=schema)
    t = sa.Table("lines", md, sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("email", sa.String(100)), sa.Column("row_version", sa.BigInteger))
    md.create_all(engine)
    with engine.begin() as conn:  # many rows share one watermark value: pages must not skip or repeat
        conn.execute(t.insert(), [{"order_id": o, "line_no": n, "email": f"{o}.{n}@x.io", "row_version": o // 4}
                                  for o in range(1, 31) for n in range(1, 4)])
    obj = _obj(schema, table=f"{schema}.lines" if schema else "lines", key=["order_id", "line_no"],
               fields={"email": {"column": "email"}})
    table = WatermarkDelta(SourceTable(engine, obj))

    rows = [r.key for page in table.iter_delta(None, 7) for r in page]

    assert len(rows) == 90 and len(set(rows)) == 90
    got = table.table.read_rows([(5, 2), (30, 3), (99, 1)])
    assert set(got) == {key_to_json([5, 2]), key_to_json([30, 3])}
    assert got[key_to_json([5, 2])].row["email"] == "5.2@x.io"


def test_missing_table_and_columns_are_named(db):
    engine, schema = db
    create_customers(engine, 1, schema)
    with pytest.raises(SourceError, match="does not exist"):
        SourceTable(engine, _obj(schema, table=f"{schema}.nope" if schema else "nope"))
    bad = config_dict(table=f"{schema}.customers" if schema else "customers")
    bad["objects"][0]["fields"]["firstname"]["column"] = "frist_name"
    with pytest.raises(SourceError, match=r"no column\(s\) 'frist_name'.*it has: annual_revenue"):
        SourceTable(engine, parse_config(bad).objects[0])


def test_identifiers_from_config_are_quoted_not_injected(db):
    engine, schema = db
    md = sa.MetaData(schema=schema)
    t = sa.Table("Customer Orders", md, sa.Column("Order", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("e mail", sa.String(50)), sa.Column("row_version", sa.BigInteger))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"Order": 1, "e mail": "a@b.io", "row_version": 1}])
    obj = _obj(schema, table=f"{schema}.Customer Orders" if schema else "Customer Orders", key=["Order"],
               fields={"email": {"column": "e mail"}})
    rows = [r for page in WatermarkDelta(SourceTable(engine, obj)).iter_delta(None, 10, full_rows=True) for r in page]
    assert rows[0].row["e mail"] == "a@b.io"


def test_state_store_in_its_own_schema_keeps_versions_monotonic(db):
    engine, schema = db
    store = StateStore(engine, f"{schema}_state" if schema else "hubsync", "hubsync_")
    store.init_db()
    store.init_db()  # idempotent
    store.check()
    if schema:
        assert f"{schema}_state" in sa.inspect(engine).get_schema_names()
    newer = RecordState("[1]", "101", "a@b.io", "h2", encode_version("integer", 9), "updated")
    older = RecordState("[1]", "101", "a@b.io", "h1", encode_version("integer", 3), "updated")
    store.save_records("contacts", [newer], "r1")
    store.save_records("contacts", [older], "r2")
    [kept] = store.all_records("contacts")
    assert kept.payload_hash == "h2" and kept.source_version == encode_version("integer", 9)
    # a rejection keeps what HubSpot already holds
    store.save_records("contacts", [RecordState("[1]", None, None, None, None, "rejected", "bad")], "r3")
    [after] = store.all_records("contacts")
    assert after.hubspot_id == "101" and after.last_outcome == "rejected" and after.reason == "bad"
    assert store.owners_of("contacts", ["a@b.io"]) == {"a@b.io": "[1]"}

    store.set_position("contacts", Position("00000000000000000009", (1,)))
    store.set_position("contacts", Position("00000000000000000010", (2,)))
    assert store.get_position("contacts") == Position("00000000000000000010", (2,))


def test_state_tables_missing_are_reported_with_the_fix(db):
    engine, schema = db
    store = StateStore(engine, f"{schema}_nostate" if schema else "hubsync", "hubsync_")
    with pytest.raises(Exception, match="hubsync init-db"):
        store.check()

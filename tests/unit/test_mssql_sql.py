"""The T-SQL hubsync runs on SQL Server, compiled by SQLAlchemy's mssql dialect (no server needed).

A SourceTable reflects its table, so each test builds the same columns in an in-memory SQLite
database (with ``dbo`` attached as a schema), reflects them, then compiles for SQL Server.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateTable

from shared.config import ObjectConfig, parse_config
from shared.errors import SourceError
from shared.keys import Position, encode_version
from shared.source import mssql as hubsync_mssql
from shared.source.sql_reader import WatermarkDelta
from shared.source.table import SourceTable
from shared.state import StateStore, build_metadata

pytestmark = pytest.mark.unit

DIALECT = mssql.dialect()
ROWVER = (2001).to_bytes(8, "big")


def customers_metadata(table: str = "Customers", order_column: bool = False, kind: str = "rowversion") -> sa.MetaData:
    """The SQL Server shape; ROWVERSION becomes a BLOB when created in SQLite."""
    md = sa.MetaData(schema="dbo")
    version_type = sa.DateTime() if kind == "timestamp" else sa.LargeBinary().with_variant(mssql.ROWVERSION(), "mssql")
    columns = [
        sa.Column("CustomerId", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("Email", sa.Unicode(256)),
        sa.Column("RowVer", version_type, nullable=False),
        sa.Column("FirstName", sa.Unicode(100)),
    ]
    if order_column:
        columns.insert(1, sa.Column("Order", sa.Integer, primary_key=True, autoincrement=False))
    sa.Table(table, md, *columns)
    return md


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)

    @sa.event.listens_for(engine, "connect")
    def _attach_dbo(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("ATTACH DATABASE ':memory:' AS dbo")

    yield engine
    engine.dispose()


def make_obj(table: str = "dbo.Customers", key: list[str] | None = None, kind: str = "rowversion") -> ObjectConfig:
    return parse_config({"objects": [{
        "name": "contacts", "object_type": "contacts", "table": table, "key": key or ["CustomerId"],
        "watermark": {"column": "RowVer", "kind": kind}, "id_property": "email",
        "fields": {"email": {"column": "Email"}, "firstname": {"column": "FirstName"}},
    }]}).objects[0]


def source(engine: sa.Engine, table: str = "Customers", key: list[str] | None = None, kind: str = "rowversion",
           order_column: bool = False) -> WatermarkDelta:
    customers_metadata(table, order_column, kind).create_all(engine)
    table_ = SourceTable(engine, make_obj(f"dbo.{table}", key, kind))
    assert table_.is_mssql is False  # reflected from SQLite ...
    table_.is_mssql = True  # ... but compiled as SQL Server would run it
    return WatermarkDelta(table_)


def tsql(stmt: Any, literal: bool = False) -> str:
    kwargs = {"compile_kwargs": {"literal_binds": True}} if literal else {}
    return " ".join(str(stmt.compile(dialect=DIALECT, **kwargs)).split())


def params(stmt: Any) -> dict[str, Any]:
    return stmt.compile(dialect=DIALECT).params


# -- delta --


def test_first_delta_uses_top_order_by_and_min_active_rowversion(engine: sa.Engine) -> None:
    sql = tsql(source(engine).delta_statement(None, 500), literal=True)

    assert sql == (
        "SELECT TOP 500 dbo.[Customers].[CustomerId], dbo.[Customers].[RowVer] "
        "FROM dbo.[Customers] "
        "WHERE dbo.[Customers].[RowVer] < MIN_ACTIVE_ROWVERSION() "
        "ORDER BY dbo.[Customers].[RowVer], dbo.[Customers].[CustomerId]"
    )
    assert "LIMIT" not in sql and "OFFSET" not in sql


def test_delta_selects_key_and_watermark_only_unless_full_rows(engine: sa.Engine) -> None:
    st = source(engine)
    head = tsql(st.delta_statement(None, 10), literal=True).split(" FROM ")[0]
    assert "CustomerId" in head and "RowVer" in head
    assert "Email" not in head and "FirstName" not in head

    full = tsql(st.delta_statement(None, 10, full_rows=True), literal=True).split(" FROM ")[0]
    for column in ("CustomerId", "RowVer", "Email", "FirstName"):
        assert column in full


def test_delta_after_a_position_spells_the_keyset_with_or_and(engine: sa.Engine) -> None:
    st = source(engine)
    stmt = st.delta_statement(Position(encode_version("rowversion", ROWVER), (7,)), 500)
    sql = tsql(stmt)

    where = sql.split(" WHERE ")[1].split(" ORDER BY ")[0]
    # (RowVer > :v OR RowVer = :v AND CustomerId > :k) AND RowVer < MIN_ACTIVE_ROWVERSION()
    assert re.search(r"\(\S*RowVer\]? > :\w+ OR \S*RowVer\]? = :\w+ AND \S*CustomerId\]? > :\w+\) AND "
                     r"\S*RowVer\]? < MIN_ACTIVE_ROWVERSION\(\)$", where), where
    assert not re.search(r"\(\S+, \S+\) >", where)  # no row-value tuple: SQL Server has none
    assert sql.startswith("SELECT TOP __[POSTCOMPILE_param_1] ")  # the page size, bound at execution
    values = params(stmt)
    assert ROWVER in values.values()  # the version is bound as the rowversion's bytes
    assert 7 in values.values()
    assert 500 in values.values()


def test_delta_with_a_composite_key_expands_the_conditions(engine: sa.Engine) -> None:
    st = source(engine, "Customer Orders", key=["CustomerId", "Order"], order_column=True)
    stmt = st.delta_statement(Position(encode_version("rowversion", ROWVER), (7, 3)), 250)
    sql = tsql(stmt)

    where = sql.split(" WHERE ")[1].split(" ORDER BY ")[0]
    branches = where.split(") AND ")[0].lstrip("(").split(" OR ")
    assert len(branches) == 3
    t = re.escape("dbo.[Customer Orders].")
    assert re.fullmatch(rf"{t}\[RowVer\] > :\w+", branches[0]), branches
    assert re.fullmatch(rf"{t}\[RowVer\] = :\w+ AND {t}\[CustomerId\] > :\w+", branches[1]), branches
    assert re.fullmatch(
        rf"{t}\[RowVer\] = :\w+ AND {t}\[CustomerId\] = :\w+ AND {t}\[Order\] > :\w+", branches[2]
    ), branches
    assert where.endswith("< MIN_ACTIVE_ROWVERSION()")
    assert sql.endswith("ORDER BY dbo.[Customer Orders].[RowVer], dbo.[Customer Orders].[CustomerId], "
                        "dbo.[Customer Orders].[Order]")
    assert sorted(v for v in params(stmt).values() if isinstance(v, int)) == [3, 7, 7, 250]


def test_identifiers_are_bracket_quoted_when_needed(engine: sa.Engine) -> None:
    st = source(engine, "Customer Orders", key=["CustomerId", "Order"], order_column=True)
    sql = tsql(st.delta_statement(None, 100), literal=True)

    assert "dbo.[Customer Orders]" in sql  # a space in the table name
    assert "[Order]" in sql  # a reserved word as a column
    assert '"' not in sql and "`" not in sql


def test_a_new_run_reads_after_the_version_only(engine: sa.Engine) -> None:
    st = source(engine)
    sql = tsql(st.delta_statement(Position(encode_version("rowversion", ROWVER)), 100))
    where = sql.split(" WHERE ")[1].split(" ORDER BY ")[0]
    assert re.fullmatch(r"\S+RowVer\]? > :\w+ AND \S+RowVer\]? < MIN_ACTIVE_ROWVERSION\(\)", where), where


def test_timestamp_watermark_new_run_rereads_the_last_timestamp_and_has_no_rowversion_bound(engine: sa.Engine) -> None:
    st = source(engine, kind="timestamp")
    sql = tsql(st.delta_statement(Position("2024-02-29T10:00:00.000000"), 100))
    assert " >= " in sql
    assert "MIN_ACTIVE_ROWVERSION" not in sql


def test_watermark_kind_that_does_not_fit_the_column_is_refused_naming_the_setting(engine: sa.Engine) -> None:
    customers_metadata().create_all(engine)  # RowVer is binary
    with pytest.raises(SourceError, match=r"watermark.kind: column 'RowVer' .* does not fit kind 'timestamp'; "
                                          r"use kind: rowversion"):
        WatermarkDelta(SourceTable(engine, make_obj(kind="timestamp")))


def test_min_active_rowversion_only_on_sql_server(engine: sa.Engine) -> None:
    st = source(engine)
    st.table.is_mssql = False
    assert "MIN_ACTIVE_ROWVERSION" not in tsql(st.delta_statement(None, 100), literal=True)


# -- rows by key --


def test_rows_statement_single_key_uses_in(engine: sa.Engine) -> None:
    sql = tsql(source(engine).table.rows_statement([(1,), (2,), (3,)]), literal=True)
    assert re.search(r"WHERE \S*CustomerId\]? IN \(1, 2, 3\)$", sql), sql
    for column in ("Email", "FirstName", "RowVer"):
        assert column in sql.split(" FROM ")[0]


def test_rows_statement_composite_key_is_an_or_of_ands(engine: sa.Engine) -> None:
    st = source(engine, "Customer Orders", key=["CustomerId", "Order"], order_column=True)
    sql = tsql(st.table.rows_statement([(1, 10), (2, 20)]), literal=True)

    where = sql.split(" WHERE ")[1]
    assert where == (
        "dbo.[Customer Orders].[CustomerId] = 1 AND dbo.[Customer Orders].[Order] = 10 OR "
        "dbo.[Customer Orders].[CustomerId] = 2 AND dbo.[Customer Orders].[Order] = 20"
    )
    assert "IN (" not in where


def test_rows_statement_without_keys_selects_nothing(engine: sa.Engine) -> None:
    sql = tsql(source(engine).table.rows_statement([]), literal=True)
    assert sql.endswith(" WHERE 0 = 1"), sql


def test_rowversion_type_compiles_for_sql_server() -> None:
    table = customers_metadata().tables["dbo.Customers"]
    ddl = " ".join(str(CreateTable(table).compile(dialect=DIALECT)).split())
    assert ddl.startswith("CREATE TABLE dbo.[Customers] (")
    assert "[RowVer] ROWVERSION NOT NULL" in ddl
    assert "[Email] NVARCHAR(256) NULL" in ddl


# -- state DDL --


EXPECTED_TABLES = ["hubsync_watermarks", "hubsync_runs", "hubsync_batches", "hubsync_records", "hubsync_claims",
                   "hubsync_associations", "hubsync_poison"]


def _mock_engine() -> Any:
    return sa.create_mock_engine("mssql+pyodbc://", executor=lambda *a, **k: None)


def test_state_store_ddl_for_sql_server() -> None:
    store = StateStore(_mock_engine())
    ddl = store.ddl()

    assert store.schema == "hubsync"
    assert ddl.startswith("CREATE SCHEMA hubsync;")
    for name in EXPECTED_TABLES:  # in their own schema: no prefix (hubsync.records, not hubsync.hubsync_records)
        assert f"CREATE TABLE hubsync.{name.removeprefix('hubsync_')} (" in ddl
    assert "CREATE INDEX ix_records_id_value ON hubsync.records (object_name, id_value);" in ddl
    assert "source_key NVARCHAR(400) NOT NULL" in ddl  # with object_name, fits SQL Server's 900-byte key
    assert "body NVARCHAR(max) NOT NULL" in ddl and "NTEXT" not in ddl  # no deprecated large types
    assert "PRIMARY KEY (object_name, source_key)" in ddl
    assert "id INTEGER NOT NULL IDENTITY" in ddl
    assert "rows_read BIGINT NOT NULL" in ddl
    assert ddl.count(";") == 1 + len(EXPECTED_TABLES) + 5  # schema, tables, five indexes
    assert "PRIMARY KEY (object_name, source_key, association)" in ddl  # 64 + 800 + 16 bytes: within 900


def test_state_store_ddl_with_another_schema_and_prefix() -> None:
    ddl = StateStore(_mock_engine(), schema="sync state", prefix="hs_").ddl()
    assert ddl.startswith("CREATE SCHEMA [sync state];")
    assert "CREATE TABLE [sync state].hs_records (" in ddl
    assert "hubsync_" not in ddl


def test_state_store_without_schema_on_sql_server() -> None:
    ddl = StateStore(_mock_engine(), schema=None).ddl()
    assert "CREATE SCHEMA" not in ddl
    assert "CREATE TABLE hubsync_records (" in ddl


def test_state_tables_compile_for_sql_server() -> None:
    md = build_metadata("hubsync", "hubsync_")
    assert sorted(t.name for t in md.tables.values()) == sorted(EXPECTED_TABLES)
    for table in md.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=DIALECT))
        assert f"CREATE TABLE hubsync.{table.name}" in ddl
        assert re.search(r"N?VARCHAR\(\d+\)", ddl)


def test_state_store_on_sqlite_drops_the_schema() -> None:
    store = StateStore(sa.create_engine("sqlite://"))
    assert store.schema is None
    assert "CREATE SCHEMA" not in store.ddl()
    assert store.records.name == "hubsync_records"


# -- access token --


@pytest.mark.parametrize("token", ["eyJ0eXAiOiJKV1Qi.abc.def", "", "é"])
def test_pack_access_token(token: str) -> None:
    packed = hubsync_mssql.pack_access_token(token)
    raw = token.encode("utf-16-le")

    (length,) = struct.unpack("<I", packed[:4])
    assert length == len(raw) == 2 * len(token)
    assert packed[4:] == raw
    assert len(packed) == 4 + len(raw)


def test_pack_access_token_length_is_little_endian() -> None:
    packed = hubsync_mssql.pack_access_token("x" * 200)  # 400 bytes = 0x0190
    assert packed[:4] == b"\x90\x01\x00\x00"


def test_sql_server_constants() -> None:
    assert hubsync_mssql.SQL_COPT_SS_ACCESS_TOKEN == 1256
    assert hubsync_mssql.AZURE_SQL_SCOPE == "https://database.windows.net/.default"
    expected = "SELECT MIN_ACTIVE_ROWVERSION() AS [MIN_ACTIVE_ROWVERSION_1]"
    assert tsql(sa.select(hubsync_mssql.min_active_rowversion())) == expected
    assert tsql(sa.select(hubsync_mssql.current_rowversion_literal())) == "SELECT @@DBTS"


def test_rows_sharing_an_email_are_found_in_one_grouped_query(engine: sa.Engine) -> None:
    obj = parse_config({"objects": [{
        "name": "contacts", "object_type": "contacts", "table": "dbo.Customers", "key": ["CustomerId"],
        "watermark": {"column": "RowVer", "kind": "rowversion"}, "id_property": "email",
        "fields": {"email": {"column": "Email", "transform": ["email"]}, "firstname": {"column": "FirstName"}},
    }]}).objects[0]
    customers_metadata("Customers", False, "rowversion").create_all(engine)
    table = SourceTable(engine, obj)
    sql = tsql(table.match_groups_statement("email"))
    assert sql.startswith('SELECT dbo.[Customers].[CustomerId], lower(trim(dbo.[Customers].[Email])) AS match_value')
    assert "GROUP BY lower(trim(dbo.[Customers].[Email])) HAVING count(*) > :count_1" in sql
    assert table.match_groups_statement("firstname") is not None  # no transform: the column itself

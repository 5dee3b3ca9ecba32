"""What `hubsync init-db --grant-to` gives the app's database identity, in each database's SQL:
read on the source tables, read and write on the state tables, never DDL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import create_mock_engine

from shared.errors import ConfigurationError
from shared.readiness import grant_statements
from shared.state import StateStore
from tests.support import config_for

pytestmark = pytest.mark.unit


def runtime_on(url: str, table: str = "dbo.Customers", state_schema: str | None = "hubsync") -> SimpleNamespace:
    engine = create_mock_engine(url, lambda *a, **k: None)  # compiles, never connects
    config = config_for(table=table, state_schema=state_schema)
    return SimpleNamespace(engine=engine, config=config, state=StateStore(engine, state_schema, None))


def test_sql_server_user_from_entra_id_read_on_the_source_and_dml_on_the_state_schema() -> None:
    assert grant_statements(runtime_on("mssql+pyodbc://"), "id-hubsync-dev-abc123") == [
        "IF DATABASE_PRINCIPAL_ID(N'id-hubsync-dev-abc123') IS NULL "
        "CREATE USER [id-hubsync-dev-abc123] FROM EXTERNAL PROVIDER",
        "GRANT SELECT ON [dbo].[Customers] TO [id-hubsync-dev-abc123]",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON SCHEMA::[hubsync] TO [id-hubsync-dev-abc123]",
    ]


def test_sql_server_state_tables_without_a_schema_are_granted_one_by_one() -> None:
    statements = grant_statements(runtime_on("mssql+pyodbc://", state_schema=None), "app")
    state = [s for s in statements if "INSERT" in s]
    assert len(state) == 7 and all(s.startswith("GRANT SELECT, INSERT, UPDATE, DELETE ON [hubsync_") for s in state)
    assert not any("ALTER" in s or "CREATE TABLE" in s or "CONTROL" in s for s in statements)


def test_names_are_quoted_so_a_bracket_or_quote_cannot_escape() -> None:
    statements = grant_statements(runtime_on("mssql+pyodbc://"), "o'brien]x")
    assert statements[0].startswith("IF DATABASE_PRINCIPAL_ID(N'o''brien]x') IS NULL CREATE USER [o'brien]]x]")


def test_postgresql_grants_schema_usage_tables_and_sequences() -> None:
    assert grant_statements(runtime_on("postgresql+psycopg://", table="crm.customers"), "hubsync_app") == [
        'GRANT USAGE ON SCHEMA "crm" TO "hubsync_app"',
        'GRANT SELECT ON "crm"."customers" TO "hubsync_app"',
        'GRANT USAGE ON SCHEMA "hubsync" TO "hubsync_app"',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "hubsync" TO "hubsync_app"',
        'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "hubsync" TO "hubsync_app"',
    ]


def test_sqlite_has_no_users_to_grant_to() -> None:
    with pytest.raises(ConfigurationError, match="--grant-to: sqlite"):
        grant_statements(runtime_on("sqlite://", table="customers"), "anyone")


@pytest.mark.parametrize("url", ["mssql+pyodbc://", "postgresql+psycopg://"])
def test_the_privilege_probes_compile_and_match_no_row(url: str) -> None:
    from shared.readiness import state_probes

    rt = runtime_on(url)
    for t in rt.state.metadata.sorted_tables:
        probes = dict(state_probes(t))
        assert list(probes) == ["SELECT", "INSERT", "UPDATE", "DELETE"]
        for privilege, statement in probes.items():
            sql = str(statement.compile(dialect=rt.engine.dialect))
            assert sql.split()[0] == privilege, sql
            assert "1 != 1" in sql or "false" in sql.lower() or "0 = 1" in sql, sql  # no row is ever touched

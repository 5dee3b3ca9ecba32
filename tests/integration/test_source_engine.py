"""shared/source/engine.py: SQLAlchemy's errors are wrapped once, at the engine, into the taxonomy.
An unreachable or dropped database is SourceUnavailable (transient); schema errors are not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.errors import SourceError, SourceUnavailable, judge
from shared.source.engine import check_connection, create_source_engine, guard
from shared.state import StateStore

pytestmark = pytest.mark.integration


def test_a_refused_connection_is_an_outage_naming_the_database_without_its_password() -> None:
    engine = create_source_engine("postgresql+psycopg://u:hunter2@127.0.0.1:9/nowhere")
    with pytest.raises(SourceUnavailable) as info:
        check_connection(engine)
    assert "127.0.0.1:9/nowhere" in str(info.value) and "hunter2" not in str(info.value)
    assert judge(info.value).exit_code == 3


def test_the_state_store_on_an_unreachable_database_raises_the_same_outage() -> None:
    # an engine the caller built itself: the state store guards it too
    engine = sa.create_engine("postgresql+psycopg://u:pw@127.0.0.1:9/nowhere")
    state = StateStore(engine)
    with pytest.raises(SourceUnavailable):
        state.get_run("nope")


def test_a_dropped_postgresql_connection_mid_session_is_an_outage(pg_engine: sa.Engine) -> None:
    engine = guard(sa.create_engine(pg_engine.url.render_as_string(hide_password=False)))
    with engine.connect() as conn:
        pid = conn.execute(sa.text("select pg_backend_pid()")).scalar_one()
        with pg_engine.begin() as admin:  # another session ends ours, as a failover would
            admin.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(SourceUnavailable):
            conn.execute(sa.text("select 1"))
    engine.dispose()


def test_sqlite_schema_errors_stay_sqlalchemy_errors_and_reflection_still_works(tmp_path) -> None:
    engine = create_source_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("create table t (id integer primary key)"))
    with pytest.raises(sa.exc.OperationalError, match="no such table"), engine.connect() as conn:
        conn.execute(sa.text("select * from missing"))
    # SQLAlchemy's SQLite reflection catches "no such table: sqlite_temp_master" itself
    table = sa.Table("t", sa.MetaData(), schema=None, autoload_with=engine)
    assert [c.name for c in table.columns] == ["id"]


def test_a_missing_odbc_driver_is_a_configuration_error_listing_the_installed_ones() -> None:
    engine = create_source_engine("mssql+pyodbc://@server.example/db?driver=No+Such+Driver+17")
    with pytest.raises(SourceError) as info:
        check_connection(engine)
    assert not isinstance(info.value, SourceUnavailable)
    assert "installed ODBC drivers" in str(info.value)
    assert judge(info.value).exit_code == 2

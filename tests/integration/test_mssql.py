"""Against a real SQL Server: runs in the GitHub Actions `mssql` job (SQL Server 2022 service
container), where HUBSYNC_TEST_MSSQL_URL is set. SQL Server cannot run on the development
machines; there the T-SQL is checked compiled (tests/unit/test_mssql_sql.py)."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from shared.config import parse_config
from shared.runtime import Runtime
from shared.settings import Settings
from shared.source.engine import create_source_engine
from shared.source.table import SourceTable
from shared.sync.run import run_sync
from tests.conftest import TOKEN
from tests.support import assert_converged, config_dict

URL = os.environ.get("HUBSYNC_TEST_MSSQL_URL")
pytestmark = [pytest.mark.mssql, pytest.mark.skipif(not URL, reason="HUBSYNC_TEST_MSSQL_URL not set (CI mssql job)")]


@pytest.fixture
def mssql():
    engine = create_source_engine(URL or "")
    schema = f"s{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA [{schema}]"))
        conn.execute(sa.text(
            f"CREATE TABLE [{schema}].[customers] (customer_id int PRIMARY KEY, email nvarchar(320), "
            "first_name nvarchar(100), last_name nvarchar(100), phone nvarchar(40), status nvarchar(4), "
            "tier nvarchar(20), vip int NOT NULL, signup_date date, annual_revenue decimal(14,2), "
            "row_version rowversion)"))
    yield engine, schema
    with engine.begin() as conn:
        for name in (schema, f"{schema}_state"):
            if name not in sa.inspect(conn).get_schema_names():
                continue
            for table in sa.inspect(conn).get_table_names(schema=name):
                conn.execute(sa.text(f"DROP TABLE [{name}].[{table}]"))
            conn.execute(sa.text(f"DROP SCHEMA [{name}]"))
    engine.dispose()


def test_rowversion_delta_and_convergence_on_sql_server(mssql, emulator):
    engine, schema = mssql
    with engine.begin() as conn:
        for i in range(1, 251):
            conn.execute(sa.text(
                f"INSERT INTO [{schema}].[customers] (customer_id, email, first_name, last_name, phone, status, tier, "
                "vip, signup_date, annual_revenue) VALUES (:i, :e, 'F', 'L', '+1 206 555 0100', 'A', 'gold', 0, "
                "'2024-01-02', 10.50)"), {"i": i, "e": f"user{i}@example.com"})
    data = config_dict(table=f"{schema}.customers", state_schema=f"{schema}_state")
    data["objects"][0]["watermark"] = {"column": "row_version", "kind": "rowversion"}
    config = parse_config(data)
    rt = Runtime.build(Settings(hubspot_token=SecretStr(TOKEN)), config, engine=engine,
                       hubspot_base_url=emulator.base_url, sleep=lambda s: None)
    rt.state.init_db()
    table = sa.Table("customers", sa.MetaData(schema=schema), autoload_with=engine)

    first = run_sync(rt)
    assert first.run["created"] == 250
    assert_converged(rt, emulator, table)

    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE [{schema}].[customers] SET last_name='Changed' WHERE customer_id IN (3, 7)"))
    second = run_sync(rt)
    assert second.run["rows_read"] == 2 and second.run["updated"] == 2
    assert SourceTable(engine, config.objects[0]).is_mssql

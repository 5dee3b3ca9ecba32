"""Managed-identity sign-in to Azure SQL: each new pyodbc connection gets a fresh Entra token
through SQL_COPT_SS_ACCESS_TOKEN and no credentials in its connection string."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from shared.source.engine import create_source_engine
from shared.source.mssql import AZURE_SQL_SCOPE, SQL_COPT_SS_ACCESS_TOKEN

pytestmark = pytest.mark.unit


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, scope: str) -> SimpleNamespace:
        self.scopes.append(scope)
        return SimpleNamespace(token=f"token-{len(self.scopes)}")


def test_every_connection_gets_a_fresh_token_and_no_password():
    pytest.importorskip("pyodbc")
    credential = FakeCredential()
    engine = create_source_engine("mssql+pyodbc://@srv.database.windows.net/crm?driver=ODBC+Driver+18+for+SQL+Server",
                                  sql_auth="managed-identity", credential=credential)
    for expected in ("token-1", "token-2"):
        cargs, cparams = ["DRIVER={x};SERVER=srv;UID=someone;PWD=secret;Trusted_Connection=No"], {}
        engine.dialect.dispatch.do_connect(engine.dialect, None, cargs, cparams)
        packed = cparams["attrs_before"][SQL_COPT_SS_ACCESS_TOKEN]
        (length,) = struct.unpack("<I", packed[:4])
        assert packed[4:].decode("utf-16-le") == expected and length == len(expected) * 2
        assert "PWD" not in cargs[0] and "UID" not in cargs[0] and "Trusted_Connection" not in cargs[0]
    assert credential.scopes == [AZURE_SQL_SCOPE, AZURE_SQL_SCOPE]


def test_sql_auth_leaves_connections_alone():
    pytest.importorskip("pyodbc")
    engine = create_source_engine("mssql+pyodbc://u:p@srv/crm?driver=ODBC+Driver+18+for+SQL+Server")
    cargs, cparams = ["DRIVER={x};UID=u;PWD=p"], {}
    engine.dialect.dispatch.do_connect(engine.dialect, None, cargs, cparams)
    assert "attrs_before" not in cparams and "PWD=p" in cargs[0]

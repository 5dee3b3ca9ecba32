"""Everything specific to SQL Server, in one place.

- ``MIN_ACTIVE_ROWVERSION()`` bounds a rowversion delta: rows of transactions still open
  while we read have lower rowversions than ``@@DBTS``; reading up to the minimum active one
  (exclusive) never skips them.
- Managed-identity sign-in to Azure SQL: a Microsoft Entra access token handed to the ODBC
  driver through ``SQL_COPT_SS_ACCESS_TOKEN`` (1256), with no UID/PWD in the connection string.

The statements hubsync runs on SQL Server are built with SQLAlchemy Core and compiled by its
mssql dialect; ``tests/unit/test_mssql_sql.py`` checks the compiled T-SQL.
"""

from __future__ import annotations

import struct
from typing import Any

from sqlalchemy import func, literal_column
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

SQL_COPT_SS_ACCESS_TOKEN = 1256
AZURE_SQL_SCOPE = "https://database.windows.net/.default"
SQLSERVER_DRIVER_HINT = "ODBC Driver 18 for SQL Server"


def min_active_rowversion() -> ColumnElement[Any]:
    """``MIN_ACTIVE_ROWVERSION()``: the exclusive upper bound of a safe rowversion delta."""
    return func.MIN_ACTIVE_ROWVERSION()


def current_rowversion_literal() -> ColumnElement[Any]:
    return literal_column("@@DBTS")


def pack_access_token(token: str) -> bytes:
    """The byte layout msodbcsql expects for an access token: length-prefixed UTF-16-LE."""
    raw = token.encode("utf-16-le")
    return struct.pack(f"<I{len(raw)}s", len(raw), raw)


def attach_managed_identity(engine: Engine, credential: Any) -> None:
    """Sign every new pyodbc connection in with a fresh token from ``credential``."""
    from sqlalchemy import event

    @event.listens_for(engine, "do_connect")
    def _provide_token(_dialect, _conn_rec, cargs, cparams):  # type: ignore[no-untyped-def]
        token = credential.get_token(AZURE_SQL_SCOPE).token
        cparams.setdefault("attrs_before", {})[SQL_COPT_SS_ACCESS_TOKEN] = pack_access_token(token)
        # The connection string must not carry credentials when a token is used.
        if cargs:
            cargs[0] = ";".join(
                part for part in cargs[0].split(";")
                if not part.upper().startswith(("UID=", "PWD=", "TRUSTED_CONNECTION="))
            )


def installed_drivers() -> list[str]:
    """``pyodbc.drivers()``, or an explanation when pyodbc/unixODBC is missing."""
    try:
        import pyodbc
    except ImportError as err:  # libodbc.so.2 missing, or pyodbc not installed
        return [f"<pyodbc unavailable: {err}>"]
    return list(pyodbc.drivers())

"""The source database's engine: built from a URL without secrets in it, with SQLAlchemy's
database errors wrapped into hubsync's taxonomy at this one edge.

hubsync's state lives in the same database, so the same engine (and the same wrapping)
serves ``shared.state``. A dropped connection, a server that cannot be reached, a lock
timeout (``OperationalError``/``InterfaceError``, or any error the dialect calls a
disconnect) becomes ``SourceUnavailable``, which is transient; every other database error
stays SQLAlchemy's and is handled where its meaning is known (a missing table, a duplicate key).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, create_engine, event, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError, SQLAlchemyError

from shared.errors import SourceError, SourceUnavailable
from shared.redaction import first_line
from shared.source import mssql


def describe_url(url: str | URL) -> str:
    """Where a URL points, for messages: driver, host and database, never credentials or query."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparseable URL>"
    host = parsed.host or ("(odbc_connect)" if "odbc_connect" in parsed.query else "")
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.drivername}://{host}{port}/{parsed.database or ''}"


def create_source_engine(url: str, sql_auth: str | None = None, credential: Any = None) -> Engine:
    """An engine for the source; SQL Server's driver is imported only when used."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SourceError(
            "the source URL is not a SQLAlchemy URL (e.g. mssql+pyodbc://..., postgresql+psycopg://..., "
            "sqlite:///file.db); check HUBSYNC_SOURCE_URL or source.url"
        ) from None
    parsed, secret_args = _secrets_out_of_url(parsed)
    # connections older than 4 minutes are replaced at checkout (Azure's load balancers drop idle TCP
    # connections after 4); no ping per checkout, which would double the round trips of every short
    # transaction. A connection the server dropped anyway fails its statement as an outage
    # (SourceUnavailable: the batch is retried) and the pool discards it.
    kwargs: dict[str, Any] = {"pool_recycle": 240}
    if secret_args:
        kwargs["connect_args"] = secret_args
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    # SQL Server: no fast_executemany. With NVARCHAR(max) parameters (reasons, poison bodies) pyodbc's
    # fast path is known to truncate or balloon memory, and hubsync inserts at most 100 rows at a time.
    if parsed.get_backend_name() == "mssql" and "driver" not in parsed.query and not parsed.query.get("odbc_connect"):
        parsed = parsed.update_query_dict({"driver": mssql.SQLSERVER_DRIVER_HINT})
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise SourceError(f"unsupported source database {parsed.drivername!r}") from None
    except ImportError as err:
        drivers = mssql.installed_drivers() if parsed.get_backend_name() == "mssql" else []
        hint = f"; installed ODBC drivers: {drivers}" if drivers else ""
        raise SourceError(f"the driver for {parsed.drivername} cannot be loaded: {err}{hint}") from None
    if parsed.get_backend_name() == "mssql" and sql_auth == "managed-identity":
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        mssql.attach_managed_identity(engine, credential)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _rec):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return guard(engine)


def one_of(column: ColumnElement[Any], values: Iterable[Any], dialect: str) -> ColumnElement[bool]:
    """``column IN (values)``, as each database runs it best. PostgreSQL gets ``column = ANY(:array)``:
    one parameter, so the statement's text is the same for any number of values (psycopg caches
    and prepares it once), it is planned in a fifth of the time of a 100-value list, and a
    growing, not yet analysed table is read through its index rather than scanned whole. Other
    databases get ``IN`` with one parameter per value (SQL Server allows 2,100 per statement:
    callers send at most 1,000)."""
    values = list(values)
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def guard(engine: Engine) -> Engine:
    """Wrap this engine's outage errors as ``SourceUnavailable`` (idempotent; a mock engine that
    only compiles DDL is left as it is)."""
    if isinstance(engine, Engine) and not event.contains(engine, "handle_error", _wrap_outage):
        event.listen(engine, "handle_error", _wrap_outage)
    return engine


# SQLite raises OperationalError for schema errors too, and SQLAlchemy's SQLite reflection
# catches some of them itself ("no such table: sqlite_temp_master"): those are not outages.
_SQLITE_SCHEMA_ERRORS = ("no such ", "syntax error", "has no column")
# unixODBC's driver manager: the configured driver is not installed (a setup problem, not an outage)
_DRIVER_MISSING = ("Can't open lib", "IM002", "Data source name not found")


def _wrap_outage(ctx: Any) -> BaseException | None:
    if getattr(ctx, "is_pre_ping", False):
        return None  # the pool's own liveness check: it handles the disconnect itself
    original = ctx.sqlalchemy_exception or ctx.original_exception
    if ctx.dialect.name == "sqlite" and str(ctx.original_exception).startswith(_SQLITE_SCHEMA_ERRORS):
        return None
    where = describe_url(ctx.engine.url) if ctx.engine is not None else "the source database"
    if any(mark in str(ctx.original_exception) for mark in _DRIVER_MISSING):
        return SourceError(f"the ODBC driver for {where} cannot be loaded: {first_line(original)}; "
                           f"installed ODBC drivers: {mssql.installed_drivers()}")
    if ctx.is_disconnect or isinstance(original, OperationalError | InterfaceError):
        return SourceUnavailable(f"the database {where} is unavailable: {first_line(original)}")
    return None


def _secrets_out_of_url(url: URL) -> tuple[URL, dict[str, Any]]:
    """Move passwords carried in the query string (libpq's ``password``, ``PWD=`` inside an ODBC
    ``odbc_connect`` string) into connect arguments, so the engine's URL, its repr and every
    message built from it hold no secret. The driver still receives the same credentials."""
    args: dict[str, Any] = {}
    query = dict(url.query)
    if "password" in query:
        args["password"] = query.pop("password")
    odbc = query.get("odbc_connect")
    if isinstance(odbc, str):
        kept = []
        for part in _odbc_parts(odbc):
            name, _, value = part.partition("=")
            if name.strip().upper() == "PWD":
                args["PWD"] = value  # pyodbc appends keyword arguments to the connection string
            else:
                kept.append(part)
        query["odbc_connect"] = ";".join(kept)
    if not args:
        return url, {}
    return url.set(query=query), args


def _odbc_parts(text: str) -> list[str]:
    """Split an ODBC connection string on ';' outside '{...}' values ('}}' escapes a brace)."""
    parts, current, braced, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if braced and ch == "}" and text[i + 1:i + 2] == "}":
            current.append("}}")
            i += 2
            continue
        if ch == "{":
            braced = True
        elif ch == "}":
            braced = False
        if ch == ";" and not braced:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if current:
        parts.append("".join(current))
    return [p for p in parts if p.strip()]


def check_connection(engine: Engine) -> None:
    """Raise ``SourceUnavailable`` naming the database when it cannot be reached."""
    guard(engine)
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except SourceUnavailable as err:
        raise SourceUnavailable(f"cannot connect to the source database: {err}") from None
    except SQLAlchemyError as err:
        raise SourceError(
            f"cannot connect to the source database {describe_url(engine.url)}: {first_line(err)}"
        ) from None

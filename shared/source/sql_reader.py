"""Reading the source: deltas by watermark with keyset pagination, and rows by key.

SQLAlchemy Core builds every statement; table and column names from the configuration are
checked against the reflected table and quoted by the dialect, never formatted into SQL text.
Deltas are streamed page by page on ``(watermark, key)``, so memory does not grow with the
size of the delta.

A *version* is the watermark value of a row in a canonical text form that sorts like the
value itself (fixed-width hex for rowversion, zero-padded integers, ISO timestamps), so state
can compare versions without knowing their type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    MetaData,
    Table,
    and_,
    create_engine,
    false,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    NoSuchModuleError,
    NoSuchTableError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.sql.elements import ColumnElement

from shared.config import ObjectConfig
from shared.errors import RetryableError, SourceError
from shared.source import mssql

Key = tuple[Any, ...]


def encode_version(kind: str, value: Any) -> str:
    """Canonical, sortable text of a watermark value."""
    if value is None:
        raise SourceError("a row has a NULL watermark; give the watermark column a NOT NULL default")
    if kind == "rowversion":
        if isinstance(value, int):
            return f"{value:016x}"
        return bytes(value).hex().rjust(16, "0")
    if kind == "integer":
        number = int(value)
        if number < 0:
            raise SourceError(f"watermark value {number} is negative; integer watermarks must be >= 0")
        return f"{number:020d}"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).strftime("%Y-%m-%dT%H:%M:%S.%f")
    raise SourceError(f"watermark value of type {type(value).__name__} does not fit kind {kind!r}")


def decode_version(kind: str, text: str) -> Any:
    """The value to bind in a query for a canonical version."""
    if kind == "rowversion":
        return bytes.fromhex(text)
    if kind == "integer":
        return int(text)
    return dt.datetime.fromisoformat(text)


MAX_KEY_TEXT = 400  # the state table's source_key column


def key_to_json(key: Sequence[Any]) -> str:
    """A source key as stable text identifying its row in state: its JSON, or for a key too long
    for the state column, the start of its JSON and a hash of all of it."""
    text = json.dumps([_jsonable(v) for v in key], separators=(",", ":"))
    if len(text) <= MAX_KEY_TEXT:
        return text
    import hashlib

    suffix = "...#sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text[: MAX_KEY_TEXT - len(suffix)] + suffix


def _jsonable(value: Any) -> Any:
    """A key value as JSON: numbers and strings as they are, dates ISO, anything else as text."""
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def jsonable_key(key: Sequence[Any]) -> list[Any]:
    return [_jsonable(v) for v in key]


@dataclass(frozen=True)
class Position:
    """Where a delta resumes: after this (version, key)."""

    version: str
    key: tuple[Any, ...] | None = None

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "key": jsonable_key(self.key) if self.key else None})

    @classmethod
    def from_json(cls, text: str) -> Position:
        data = json.loads(text)
        return cls(data["version"], tuple(data["key"]) if data.get("key") else None)


@dataclass(frozen=True)
class DeltaRow:
    key: Key
    version: str
    row: Mapping[str, Any] | None = None
    error: str | None = None  # the row exists but its values could not be read


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
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
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
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _rec):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


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
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except SQLAlchemyError as err:
        raise SourceError(
            f"cannot connect to the source database {describe_url(engine.url)}: {_short(err)}"
        ) from None


def _short(err: BaseException) -> str:
    from shared.sync_logger import scrub_secrets

    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines() or [type(orig).__name__]
    return scrub_secrets(lines[0][:300])


def _where(label: str, obj: ObjectConfig, column: str) -> str:
    """The configuration path that names ``column``: a field, the key or the watermark."""
    base = label.split(" ")[0]
    for prop, spec in obj.fields.items():
        if spec.column and spec.column.lower() == column.lower():
            return f"{base}.fields.{prop}.column"
    if column.lower() == obj.watermark.column.lower():
        return f"{base}.watermark.column"
    return f"{base}.key"


class SourceTable:
    """One configured table, reflected and checked against the configuration."""

    def __init__(self, engine: Engine, obj: ObjectConfig, label: str | None = None) -> None:
        self.engine = engine
        self.obj = obj
        self.label = label = label or f"object {obj.name!r}"
        try:
            self.table = Table(obj.table_name, MetaData(), schema=obj.schema_name, autoload_with=engine)
        except NoSuchTableError:
            raise SourceError(
                f"{label}: table {obj.table!r} does not exist in {describe_url(engine.url)}"
            ) from None
        except OperationalError as err:
            raise RetryableError(f"{label}: the source database failed: {_short(err)}") from None
        except SQLAlchemyError as err:
            raise SourceError(
                f"{label}: cannot read table {obj.table!r} from {describe_url(engine.url)}: {_short(err)}"
            ) from None
        by_lower = {c.name.lower(): c for c in self.table.columns}
        missing = [c for c in obj.columns if c.lower() not in by_lower]
        if missing:
            import difflib

            available = sorted(c.name for c in self.table.columns)
            problems = []
            for column in missing:
                near = difflib.get_close_matches(column, available, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                problems.append(f"{_where(label, obj, column)}: table {obj.table!r} has no column(s) {column!r}{hint}")
            raise SourceError(
                "; ".join(problems) + f" — it has: {', '.join(available)}", problems
            )
        self._col: dict[str, Column[Any]] = {c: by_lower[c.lower()] for c in obj.columns}
        self.key_cols = [self._col[c] for c in obj.key]
        self.wm_col = self._col[obj.watermark.column]
        self.kind = obj.watermark.kind
        self.is_mssql = engine.dialect.name == "mssql"
        self._check_watermark_type()
        if engine.dialect.name == "sqlite":
            self._read_sqlite_values_raw()

    def _check_watermark_type(self) -> None:
        """A watermark column whose type does not fit its kind would sync once and then never again."""
        try:
            kind = self.wm_col.type.python_type
        except NotImplementedError:
            return
        fits = {
            "rowversion": (bytes,),
            "integer": (int, decimal.Decimal),
            "timestamp": (dt.datetime, dt.date),
        }[self.kind]
        if self.kind == "rowversion" and self.is_mssql:
            return  # ROWVERSION/TIMESTAMP reflect as binary
        if not issubclass(kind, fits):
            suggest = {int: "integer", decimal.Decimal: "integer", dt.datetime: "timestamp", dt.date: "timestamp",
                       bytes: "rowversion"}.get(kind)
            hint = f"; use kind: {suggest}" if suggest else ""
            raise SourceError(
                f"{self.label.split(' ')[0]}.watermark.kind: column {self.wm_col.name!r} is "
                f"{self.wm_col.type} ({kind.__name__}), which does not fit kind {self.kind!r}{hint}"
            )

    def _read_sqlite_values_raw(self) -> None:
        """SQLite stores dates and decimals as text or floats; SQLAlchemy's conversion of them
        raises on one odd value (a whole page fails) and turns 1.61 into 1.6100000001. Read them as
        stored and let the transforms convert, and reject, row by row."""
        from sqlalchemy import Date, DateTime, Float, Numeric, String, Time

        for name, col in self._col.items():
            if col is self.wm_col or col in self.key_cols:
                continue  # compared and bound in queries: keep their types
            if isinstance(col.type, Numeric) and not isinstance(col.type, Float):
                col.type = Float(asdecimal=False)
            elif isinstance(col.type, Date | DateTime | Time):
                col.type = String()
            self._col[name] = col

    # -- statements (built here so the T-SQL can be compiled and checked in tests) --

    def delta_statement(self, after: Position | None, page_size: int, full_rows: bool = False):  # type: ignore[no-untyped-def]
        cols = [self._col[c] for c in self.obj.columns] if full_rows else [*self.key_cols, self.wm_col]
        stmt = select(*cols)
        conditions: list[ColumnElement[bool]] = []
        if after is not None:
            conditions.append(self._after(after))
        if self.kind == "rowversion" and self.is_mssql:
            conditions.append(self.wm_col < mssql.min_active_rowversion())
        if conditions:
            stmt = stmt.where(and_(*conditions))
        return stmt.order_by(self.wm_col, *self.key_cols).limit(page_size)

    def _after(self, pos: Position) -> ColumnElement[bool]:
        # bound with the column's own type: SQL Server compares datetime with a datetime2 parameter
        # inexactly, which would make '=' miss rows that '>' sees
        bound = literal(decode_version(self.kind, pos.version), self.wm_col.type)
        if pos.key is None:
            # A new run: rowversion and integer versions are unique per change; timestamps are
            # not, so rows sharing the last timestamp are read again (unchanged rows cost nothing).
            return self.wm_col >= bound if self.kind == "timestamp" else self.wm_col > bound
        # Row-value comparison spelled out, since SQL Server has no (a, b) > (x, y).
        clauses: list[ColumnElement[bool]] = [self.wm_col > bound]
        equal: list[ColumnElement[bool]] = [self.wm_col == bound]
        for col, value in zip(self.key_cols, pos.key, strict=True):
            clauses.append(and_(*equal, col > value))
            equal.append(col == value)
        return or_(*clauses)

    def coerce(self, col: Column[Any], value: Any) -> Any:
        """A key value that travelled as JSON, back in the column's Python type."""
        try:
            kind = col.type.python_type
        except NotImplementedError:
            return value
        if value is None or isinstance(value, kind):
            return value
        try:
            if kind is dt.datetime:
                return dt.datetime.fromisoformat(value)
            if kind is dt.date:
                return dt.date.fromisoformat(value)
            if kind in (int, float, decimal.Decimal, uuid.UUID):
                return kind(value)
        except (TypeError, ValueError):
            return value
        return value

    def rows_statement(self, keys: Sequence[Key]):  # type: ignore[no-untyped-def]
        keys = [tuple(self.coerce(c, v) for c, v in zip(self.key_cols, k, strict=True)) for k in keys]
        cols = [self._col[c] for c in self.obj.columns]
        if not keys:
            return select(*cols).where(false())
        if len(self.key_cols) == 1:
            cond = self.key_cols[0].in_([k[0] for k in keys])
        else:
            cond = or_(*(and_(*(c == v for c, v in zip(self.key_cols, k, strict=True))) for k in keys))
        return select(*cols).where(cond)

    # -- reading --

    def iter_delta(
        self, after: Position | None, page_size: int, full_rows: bool = False
    ) -> Iterator[list[DeltaRow]]:
        """Pages of changed rows in (watermark, key) order, each page a fresh query."""
        position = after
        while True:
            stmt = self.delta_statement(position, page_size, full_rows)
            try:
                with self.engine.connect() as conn:
                    result = conn.execute(stmt).mappings().all()
            except OperationalError as err:
                raise RetryableError(f"object {self.obj.name!r}: the source database failed: {_short(err)}") from None
            except SQLAlchemyError as err:
                raise SourceError(f"object {self.obj.name!r}: reading the delta failed: {_short(err)}") from None
            if not result:
                return
            page = [self._delta_row(r, full_rows) for r in result]
            yield page
            last = page[-1]
            position = Position(last.version, last.key)
            if len(result) < page_size:
                return

    def _delta_row(self, r: Mapping[str, Any], full_rows: bool) -> DeltaRow:
        key = tuple(r[c.name] for c in self.key_cols)
        version = encode_version(self.kind, r[self.wm_col.name])
        row = {name: r[col.name] for name, col in self._col.items()} if full_rows else None
        return DeltaRow(key, version, row)

    def read_rows(self, keys: Sequence[Key]) -> dict[str, DeltaRow]:
        """Current rows for ``keys``, by ``key_to_json(key)``; keys of deleted rows are absent.

        A value the driver cannot load (PostgreSQL's 'infinity' date, say) fails the whole fetch;
        the keys are then read one by one and only the unreadable row comes back with ``error``.
        """
        out: dict[str, DeltaRow] = {}
        try:
            with self.engine.connect() as conn:
                for r in conn.execute(self.rows_statement(keys)).mappings():
                    row = self._delta_row(r, True)
                    out[key_to_json(row.key)] = row
        except OperationalError as err:
            raise RetryableError(f"object {self.obj.name!r}: the source database failed: {_short(err)}") from None
        except (DataError, ValueError, TypeError, ArithmeticError) as err:
            if len(keys) == 1:
                return {key_to_json(keys[0]): DeltaRow(tuple(keys[0]), "", None,
                                                       f"the row cannot be read: {_short(err)}")}
            out = {}
            for key in keys:
                out.update(self.read_rows([key]))
        except SQLAlchemyError as err:
            raise SourceError(f"object {self.obj.name!r}: reading rows failed: {_short(err)}") from None
        return out

"""One configured source table: reflected, checked against the configuration, read by key.

SQLAlchemy Core builds every statement; table and column names from the configuration are
checked against the reflected table and quoted by the dialect, never formatted into SQL text.
The worker reads the current rows of a batch's keys here, whatever delta found them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, and_, false, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from shared.config import ObjectConfig
from shared.errors import MalformedMessage, SourceError
from shared.keys import Key, encode_version, key_to_json
from shared.redaction import first_line
from shared.source.delta import DeltaRow
from shared.source.engine import describe_url, guard, one_of


def config_path_of(label: str, obj: ObjectConfig, column: str) -> str:
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
        self.engine = guard(engine)
        self.obj = obj
        self.label = label = label or f"object {obj.name!r}"
        try:
            self.table = Table(obj.table_name, MetaData(), schema=obj.schema_name, autoload_with=engine)
        except NoSuchTableError:
            raise SourceError(
                f"{label}: table {obj.table!r} does not exist in {describe_url(engine.url)}"
            ) from None
        except SQLAlchemyError as err:
            raise SourceError(
                f"{label}: cannot read table {obj.table!r} from {describe_url(engine.url)}: {first_line(err)}"
            ) from None
        by_lower = {c.name.lower(): c for c in self.table.columns}
        missing = [c for c in obj.columns if c.lower() not in by_lower]
        if missing:
            available = sorted(c.name for c in self.table.columns)
            problems = []
            for column in missing:
                near = difflib.get_close_matches(column, available, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                problems.append(f"{config_path_of(label, obj, column)}: table {obj.table!r} has no column(s) "
                                f"{column!r}{hint}")
            raise SourceError("; ".join(problems) + f" — it has: {', '.join(available)}", problems)
        self.columns: dict[str, Column[Any]] = {c: by_lower[c.lower()] for c in obj.columns}
        self.key_cols = [self.columns[c] for c in obj.key]
        self.wm_col = self.columns[obj.watermark.column]
        self.kind = obj.watermark.kind
        self.is_mssql = engine.dialect.name == "mssql"
        if engine.dialect.name == "sqlite":
            self._read_sqlite_values_raw()

    def _read_sqlite_values_raw(self) -> None:
        """SQLite stores dates and decimals as text or floats; SQLAlchemy's conversion of them
        raises on one odd value (a whole page fails) and turns 1.61 into 1.6100000001. Read them as
        stored and let the transforms convert, and reject, row by row."""
        from sqlalchemy import Date, DateTime, Float, Numeric, String, Time

        for name, col in self.columns.items():
            if col is self.wm_col or col in self.key_cols:
                continue  # compared and bound in queries: keep their types
            if isinstance(col.type, Numeric) and not isinstance(col.type, Float):
                col.type = Float(asdecimal=False)
            elif isinstance(col.type, Date | DateTime | Time):
                col.type = String()
            self.columns[name] = col

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

    def typed_key(self, key: Key) -> Key:
        """A key that travelled in a message, in the key columns' types; ``MalformedMessage`` when it
        cannot be (a dict, a word for an integer column, the wrong number of values): such a
        message is parked, never sent to the database."""
        if len(key) != len(self.key_cols):
            raise MalformedMessage(f"key {list(key)!r} has {len(key)} value(s); {self.obj.table} has "
                                   f"{len(self.key_cols)} key column(s)")
        typed = []
        for col, value in zip(self.key_cols, key, strict=True):
            converted = self.coerce(col, value)
            try:
                kind: type | None = col.type.python_type
            except NotImplementedError:
                kind = None
            unfit = isinstance(converted, dict | list) or (
                kind is not None and converted is not None and not isinstance(converted, kind))
            if unfit:
                raise MalformedMessage(f"key value {value!r} does not fit column {col.name} ({col.type}) "
                                       f"of {self.obj.table}")
            typed.append(converted)
        return tuple(typed)

    def selected_columns(self, full_rows: bool) -> list[Column[Any]]:
        return [self.columns[c] for c in self.obj.columns] if full_rows else [*self.key_cols, self.wm_col]

    def rows_statement(self, keys: Sequence[Key]):  # type: ignore[no-untyped-def]
        keys = [tuple(self.coerce(c, v) for c, v in zip(self.key_cols, k, strict=True)) for k in keys]
        cols = self.selected_columns(full_rows=True)
        if not keys:
            return select(*cols).where(false())
        if len(self.key_cols) == 1:
            cond = one_of(self.key_cols[0], [k[0] for k in keys], self.engine.dialect.name)
        else:
            cond = or_(*(and_(*(c == v for c, v in zip(self.key_cols, k, strict=True))) for k in keys))
        return select(*cols).where(cond)

    def match_expression(self, prop: str) -> ColumnElement[Any] | None:
        """A mapped property's value as HubSpot compares it, computed in SQL; None when its
        transforms have no SQL equivalent (the worker's claims still keep rows apart)."""
        spec = self.obj.fields.get(prop)
        if spec is None or spec.column is None:
            return None
        expr: ColumnElement[Any] = self.columns[spec.column]
        names = [t.name for t in spec.transforms]
        for transform in spec.transforms:
            if transform.name in ("trim", "email"):
                expr = func.trim(expr)
            if transform.name in ("lower", "email"):
                expr = func.lower(expr)
            elif transform.name == "upper":
                expr = func.upper(expr)
            elif transform.name not in ("trim", "string"):
                return None
        lowered = bool({"lower", "email"} & set(names))
        contact_email = prop == "email" and self.obj.object_type == "contacts"  # HubSpot's only case-blind match
        return func.lower(expr) if contact_email and not lowered else expr

    def match_groups_statement(self, prop: str):  # type: ignore[no-untyped-def]
        """Keys and values of the rows whose ``prop`` value another row shares; None when that
        value cannot be computed in SQL."""
        expr = self.match_expression(prop)
        if expr is None:
            return None
        present = expr.is_not(None)
        if isinstance(self.columns[self.obj.fields[prop].column or ""].type, String):
            present = and_(present, expr != "")
        shared_values = select(expr).where(present).group_by(expr).having(func.count() > 1)
        return select(*self.key_cols, expr.label("match_value")).where(expr.in_(shared_values))

    def match_groups(self, prop: str) -> dict[str, list[Key]] | None:
        """Rows that share a value of ``prop`` (value -> their keys), read in one query over the
        whole table; None when the value cannot be computed in SQL."""
        stmt = self.match_groups_statement(prop)
        if stmt is None:
            return None
        groups: dict[str, list[Key]] = {}
        try:
            with self.engine.connect() as conn:
                for r in conn.execute(stmt).mappings():
                    groups.setdefault(str(r["match_value"]), []).append(tuple(r[c.name] for c in self.key_cols))
        except SQLAlchemyError as err:
            raise SourceError(f"object {self.obj.name!r}: looking for rows sharing {prop} failed: "
                              f"{first_line(err)}") from None
        return groups

    def delta_row(self, r: Mapping[str, Any], full_rows: bool) -> DeltaRow:
        key = tuple(r[c.name] for c in self.key_cols)
        version = encode_version(self.kind, r[self.wm_col.name])
        row = {name: r[col.name] for name, col in self.columns.items()} if full_rows else None
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
                    row = self.delta_row(r, True)
                    out[key_to_json(row.key)] = row
        except (DataError, ValueError, TypeError, ArithmeticError) as err:
            if len(keys) == 1:
                return {key_to_json(keys[0]): DeltaRow(tuple(keys[0]), "", None,
                                                       f"the row cannot be read: {first_line(err)}")}
            out = {}
            for key in keys:
                out.update(self.read_rows([key]))
        except SQLAlchemyError as err:
            raise SourceError(f"object {self.obj.name!r}: reading rows failed: {first_line(err)}") from None
        return out


class TableCache:
    """Reflected source tables, one per object, built on first use and shared by threads."""

    def __init__(self, factory: Callable[[ObjectConfig], SourceTable]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._tables: dict[str, SourceTable] = {}

    def get(self, obj: ObjectConfig) -> SourceTable:
        with self._lock:
            table = self._tables.get(obj.name)
            if table is None:
                table = self._tables[obj.name] = self._factory(obj)
            return table

"""Reading deltas by watermark: the rows whose watermark moved past the saved position.

Deltas are streamed page by page with keyset pagination on ``(watermark, key)``, so memory
does not grow with the size of the delta; each page is a fresh query. Row-value comparison is
spelled out with OR/AND, since SQL Server has no ``(a, b) > (x, y)``. On SQL Server a
rowversion delta is bounded by ``MIN_ACTIVE_ROWVERSION()``, so rows of transactions still open
while we read are never skipped (``shared.source.mssql``).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from shared.errors import SourceError
from shared.keys import Key, Position, decode_version, encode_version
from shared.redaction import first_line
from shared.source import mssql
from shared.source.delta import DeltaRow
from shared.source.table import SourceTable


class WatermarkDelta:
    """A ``DeltaSource`` over a table's watermark column (rowversion, integer or timestamp)."""

    def __init__(self, table: SourceTable) -> None:
        self.table = table
        self.kind = table.kind
        self._check_watermark_type()

    def _check_watermark_type(self) -> None:
        """A watermark column whose type does not fit its kind would sync once and then never again."""
        column = self.table.wm_col
        try:
            kind = column.type.python_type
        except NotImplementedError:
            return
        fits = {
            "rowversion": (bytes,),
            "integer": (int, decimal.Decimal),
            "timestamp": (dt.datetime, dt.date),
        }[self.kind]
        if self.kind == "rowversion" and self.table.is_mssql:
            return  # ROWVERSION/TIMESTAMP reflect as binary
        if not issubclass(kind, fits):
            suggest = {int: "integer", decimal.Decimal: "integer", dt.datetime: "timestamp", dt.date: "timestamp",
                       bytes: "rowversion"}.get(kind)
            hint = f"; use kind: {suggest}" if suggest else ""
            raise SourceError(
                f"{self.table.label.split(' ')[0]}.watermark.kind: column {column.name!r} is "
                f"{column.type} ({kind.__name__}), which does not fit kind {self.kind!r}{hint}"
            )

    # -- statements (built here so the T-SQL can be compiled and checked in tests) --

    def delta_statement(self, after: Position | None, page_size: int, full_rows: bool = False,  # type: ignore[no-untyped-def]
                        before: Position | None = None):
        t = self.table
        stmt = select(*t.selected_columns(full_rows))
        conditions: list[ColumnElement[bool]] = []
        if after is not None:
            conditions.append(self._after(after))  # NULL > x is never true: NULLs stay out here too
        elif t.wm_col.nullable:
            conditions.append(t.wm_col.is_not(None))  # rows without a version: rejected by the planner
        if before is not None:  # the overlap: up to, not including, the saved version
            conditions.append(t.wm_col < literal(decode_version(self.kind, before.version), t.wm_col.type))
        if self.kind == "rowversion" and t.is_mssql:
            conditions.append(t.wm_col < mssql.min_active_rowversion())
        if conditions:
            stmt = stmt.where(and_(*conditions))
        return stmt.order_by(t.wm_col, *t.key_cols).limit(page_size)

    def _after(self, pos: Position) -> ColumnElement[bool]:
        wm_col, key_cols = self.table.wm_col, self.table.key_cols
        # bound with the column's own type: SQL Server compares datetime with a datetime2 parameter
        # inexactly, which would make '=' miss rows that '>' sees
        bound = literal(decode_version(self.kind, pos.version), wm_col.type)
        if pos.key is None:
            # A new run: rowversion and integer versions are unique per change; timestamps are
            # not, so rows sharing the last timestamp are read again (unchanged rows cost nothing).
            return wm_col >= bound if self.kind == "timestamp" else wm_col > bound
        clauses: list[ColumnElement[bool]] = [wm_col > bound]
        equal: list[ColumnElement[bool]] = [wm_col == bound]
        for col, value in zip(key_cols, pos.key, strict=True):
            clauses.append(and_(*equal, col > value))
            equal.append(col == value)
        return or_(*clauses)

    # -- reading --

    def iter_delta(self, after: Position | None, page_size: int, full_rows: bool = False,
                   before: Position | None = None) -> Iterator[list[DeltaRow]]:
        """Pages of changed rows in (watermark, key) order, each page a fresh query; with ``before``,
        only rows whose version is lower than its version."""
        position = after
        while True:
            stmt = self.delta_statement(position, page_size, full_rows, before)
            try:
                with self.table.engine.connect() as conn:
                    if full_rows:
                        result: Sequence[Any] = conn.execute(stmt).mappings().all()
                    else:
                        result = conn.execute(stmt).all()
            except SQLAlchemyError as err:
                raise SourceError(f"object {self.table.obj.name!r}: reading the delta failed: "
                                  f"{first_line(err)}") from None
            if not result:
                return
            if full_rows:
                page = [self.table.delta_row(r, full_rows) for r in result]
            else:  # (key columns..., watermark) by position: the planner's path, a row at a time
                width, kind = len(self.table.key_cols), self.kind
                page = [DeltaRow(tuple(r[:width]), encode_version(kind, r[width])) for r in result]
            yield page
            last = page[-1]
            position = Position(last.version, last.key)
            if len(result) < page_size:
                return

    def overlap_start(self, saved: Position) -> Position:
        """The saved position moved back by the watermark's overlap (versions for integer, seconds for
        timestamp): an integer or timestamp taken by a transaction that commits after a later one is
        otherwise skipped for ever. rowversion on SQL Server is bounded by MIN_ACTIVE_ROWVERSION instead."""
        back = self.table.obj.watermark.reread
        if not back or self.kind == "rowversion":
            return saved
        value = decode_version(self.kind, saved.version)
        start = max(0, value - int(back)) if self.kind == "integer" else value - dt.timedelta(seconds=back)
        return Position(encode_version(self.kind, start), None, saved.origin)

    def resume_point(self, last: Position) -> Position:
        """A finished timestamp delta resumes from its last timestamp, not (timestamp, key): rows
        committed later with that same timestamp and a smaller key are read again next run."""
        return Position(last.version, None) if self.kind == "timestamp" else last

    def match_groups(self, prop: str) -> dict[str, list[Key]] | None:
        return self.table.match_groups(prop)

    def read_rows(self, keys: Sequence[Key]) -> dict[str, DeltaRow]:
        """``SourceTable.read_rows`` in slices of at most 1,000 bound values (SQL Server takes 2,100)."""
        size = max(1, 1000 // len(self.table.key_cols))
        out: dict[str, DeltaRow] = {}
        for start in range(0, len(keys), size):
            out.update(self.table.read_rows(keys[start:start + size]))
        return out

    def unversioned(self, limit: int = 1000) -> list[Key]:
        """Keys of rows whose watermark is NULL (at most ``limit``): no delta can ever see them."""
        t = self.table
        if not t.wm_col.nullable:
            return []
        stmt = select(*t.key_cols).where(t.wm_col.is_(None)).order_by(*t.key_cols).limit(limit)
        try:
            with t.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(stmt)]
        except SQLAlchemyError as err:
            raise SourceError(f"object {t.obj.name!r}: looking for NULL watermarks failed: {first_line(err)}") from None

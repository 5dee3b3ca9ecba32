"""hubsync's state tables: their definitions, their DDL, and the base every state part builds on.

- ``watermarks``: per object, the position the next delta starts after.
- ``runs``: per run, its history and counters.
- ``batches``: per queued batch, its status and last error (joined to poison messages).
- ``records``: per source row, its HubSpot id, the hash of the last payload HubSpot accepted,
  the source version, the last outcome and its reason.
- ``claims``: per HubSpot object type, unique property and value, the source row that holds it
  (``held``: HubSpot has it) or is sending it; two rows can never claim one record.
- ``associations``: per source row and declared association, the target row its foreign key
  names and whether hubsync made the link in HubSpot (or waits for the target's id).
- ``poison``: messages that kept failing, stored durably until replayed.

They live in the source database, in their own schema (or with a table prefix on SQLite).
``hubsync init-db`` creates them; ``hubsync init-db --print-sql`` prints the DDL for review.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Unicode,
    UnicodeText,
    bindparam,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mssql as mssql_types
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateSchema, CreateTable

from shared.errors import ConfigurationError, SourceError
from shared.redaction import first_line
from shared.source.engine import guard, one_of

# NVARCHAR(max) on SQL Server (UnicodeText alone may compile to the deprecated NTEXT)
LONG_TEXT = UnicodeText().with_variant(mssql_types.NVARCHAR(None), "mssql")

COUNTERS = ("rows_read", "batches", "created", "updated", "adopted", "unchanged", "rejected", "failed", "missing",
            "api_calls", "linked", "unlinked")


_ANALYZE_AFTER = 1000  # rows inserted before a table's statistics are first refreshed


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def build_metadata(schema: str | None, prefix: str) -> MetaData:
    md = MetaData(schema=schema)
    Table(
        f"{prefix}watermarks", md,
        Column("object_name", String(64), primary_key=True),
        Column("position", LONG_TEXT, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        f"{prefix}runs", md,
        Column("run_id", String(40), primary_key=True),
        Column("mode", String(16), nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", DateTime, nullable=False),
        Column("finished_at", DateTime),
        *(Column(name, BigInteger, nullable=False, default=0, server_default=text("0")) for name in COUNTERS),
        Column("error", LONG_TEXT),
    )
    Table(
        f"{prefix}batches", md,
        Column("batch_id", String(80), primary_key=True),
        Column("run_id", String(40), nullable=False, index=True),
        Column("object_name", String(64), nullable=False),
        Column("size", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", LONG_TEXT),
        Column("updated_at", DateTime, nullable=False),
    )
    records = Table(
        f"{prefix}records", md,
        Column("object_name", String(64), primary_key=True),
        Column("source_key", Unicode(400), primary_key=True),
        Column("hubspot_id", String(64)),
        Column("id_value", Unicode(450)),
        Column("payload_hash", String(64)),
        Column("source_version", String(64)),
        Column("last_outcome", String(16), nullable=False),
        Column("reason", LONG_TEXT),
        Column("run_id", String(40)),
        Column("updated_at", DateTime, nullable=False),
        Column("seen_version", String(64)),  # the version the last outcome was decided on (any outcome)
        # claimed before every send: the highest version any delivery sent, and the id value it sent
        # it under, so a crash or a concurrent older delivery can always tell what HubSpot may hold
        Column("sending_version", String(64)),
        Column("sending_value", Unicode(450)),
        # a hash of the source row's values and its mapping when HubSpot accepted payload_hash: a
        # full re-read skips a row whose hash is unchanged without queueing or mapping it
        Column("source_hash", String(64)),
    )
    Index(f"ix_{prefix}records_id_value", records.c.object_name, records.c.id_value)
    Index(f"ix_{prefix}records_outcome", records.c.object_name, records.c.last_outcome)
    claims = Table(
        f"{prefix}claims", md,
        Column("object_type", String(64), primary_key=True),
        Column("property", String(100), primary_key=True),
        Column("value", Unicode(450), primary_key=True),
        Column("object_name", String(64), nullable=False),
        Column("source_key", Unicode(400), nullable=False),
        Column("held", Boolean, nullable=False),
        Column("claimed_at", DateTime, nullable=False),
    )
    Index(f"ix_{prefix}claims_owner", claims.c.object_name, claims.c.source_key)
    links = Table(
        f"{prefix}associations", md,
        Column("object_name", String(64), primary_key=True),
        Column("source_key", Unicode(400), primary_key=True),
        Column("association", String(16), primary_key=True),  # AssociationSpec.name: target and columns
        Column("to_object", String(64), nullable=False),
        Column("to_key", Unicode(400)),  # the target row's key; NULL: the foreign key is NULL
        Column("type_id", String(64)),  # "<category>:<id>" of the association type made
        Column("from_id", String(64)),  # the HubSpot ids linked (made), or waiting for the target's (pending)
        Column("to_id", String(64)),
        Column("status", String(16), nullable=False),  # pending, made, failed, removed, none
        Column("reason", LONG_TEXT),
        Column("run_id", String(40)),
        Column("updated_at", DateTime, nullable=False),
    )
    Index(f"ix_{prefix}associations_target", links.c.to_object, links.c.to_key, links.c.status)
    Table(
        f"{prefix}poison", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("queue", String(63), nullable=False),
        Column("message_id", String(100)),
        Column("batch_id", String(80)),
        Column("body", LONG_TEXT, nullable=False),
        Column("dequeue_count", Integer),
        Column("error", LONG_TEXT),
        Column("status", String(16), nullable=False),
        Column("received_at", DateTime, nullable=False),
        Column("replayed_at", DateTime),
    )
    return md


class StateTables:
    """The state tables of one database; the parts of ``StateStore`` share them."""

    def __init__(self, engine: Engine, schema: str | None = "hubsync", prefix: str | None = None) -> None:
        if engine.dialect.name == "sqlite":
            schema = None  # SQLite has no schemas; the table prefix keeps hubsync's tables apart
        if prefix is None:
            # its own schema already keeps hubsync's tables apart (hubsync.records); without one,
            # a prefix does (hubsync_records)
            prefix = "" if schema else "hubsync_"
        self.engine = guard(engine)
        self.schema = schema
        self.prefix = prefix
        self.metadata = build_metadata(schema, prefix)
        t = self.metadata.tables
        key = (schema + ".") if schema else ""
        self.watermarks = t[f"{key}{prefix}watermarks"]
        self.runs = t[f"{key}{prefix}runs"]
        self.batches = t[f"{key}{prefix}batches"]
        self.records = t[f"{key}{prefix}records"]
        self.poison = t[f"{key}{prefix}poison"]
        self.claims = t[f"{key}{prefix}claims"]
        self.links = t[f"{key}{prefix}associations"]
        self._tx = threading.local()  # the transaction ``transaction()`` opened in this thread
        # PostgreSQL: rows this process inserted per table since its statistics were last refreshed
        self._growth_lock = threading.Lock()
        self._grown: dict[str, int] = {}
        self._sized: dict[str, float] = {}

    def _in(self, column: Any, values: Any) -> Any:
        """``column IN (values)`` as this database runs it best (``shared.source.engine.one_of``)."""
        return one_of(column, values, self.engine.dialect.name)

    def _insert_absent(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> bool:
        """Insert rows inside the caller's transaction; False when some of their keys exist already
        (another worker inserted them meanwhile: the caller reads again and treats them as existing).
        PostgreSQL and SQLite insert the absent ones in one ``INSERT ... ON CONFLICT DO NOTHING
        RETURNING`` (PostgreSQL from one array per column); SQL Server inserts all or none inside a
        savepoint (two more round trips)."""
        if not rows:
            return True
        dialect = self.engine.dialect
        first = table.primary_key.columns[0]
        if dialect.name == "postgresql" and dialect.insert_returning:
            # one array per column, unnested: a short statement of fixed text (cached, prepared) for any
            # number of rows, where a multi-row VALUES would be parsed anew for each batch
            names = list(rows[0])
            arrays = func.unnest(*(bindparam(None, [r[n] for r in rows], type_=ARRAY(table.c[n].type))
                                   for n in names)).table_valued(*names).render_derived()
            stmt = (postgresql.insert(table).from_select(names, select(*(arrays.c[n] for n in names)))
                    .on_conflict_do_nothing().returning(first))
            inserted = len(conn.execute(stmt).all())
            self._grew(conn, table, inserted)
            return inserted == len(rows)
        if dialect.name == "sqlite" and dialect.insert_returning:
            stmt = sqlite.insert(table).on_conflict_do_nothing().returning(first)
            return len(conn.execute(stmt, rows).all()) == len(rows)
        try:
            with conn.begin_nested():
                conn.execute(table.insert(), rows)
        except IntegrityError:
            return False
        return True

    def _grew(self, conn: Connection, table: Table, rows: int) -> None:
        """PostgreSQL plans a lookup by what its statistics say of a table's size, and refreshes them
        about once a minute at best: a first sync that fills the state tables in seconds would be
        planned as if they held a few dozen rows (a scan of every record of the object per lookup,
        slower the more there are). So each time this process has inserted as many rows into a table
        as its statistics count, it refreshes them (``ANALYZE``, a sample; a handful of times over a
        backfill of millions), after the transaction commits."""
        if not rows:
            return
        name = table.fullname
        with self._growth_lock:
            if name not in self._sized:
                self._sized[name] = max(0.0, float(conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                    {"t": self.engine.dialect.identifier_preparer.format_table(table)}).scalar() or 0))
            self._grown[name] = self._grown.get(name, 0) + rows
            if self._grown[name] < max(_ANALYZE_AFTER, self._sized[name]):
                return
            self._sized[name] += self._grown[name]
            self._grown[name] = 0
        due = getattr(self._tx, "analyze", None)
        if due is None:
            due = self._tx.analyze = set()
        due.add(table)

    def _analyze_due(self) -> None:
        """Refresh the statistics ``_grew`` found due, on a connection of their own (after a commit)."""
        due, self._tx.analyze = getattr(self._tx, "analyze", None), None
        for table in sorted(due or (), key=lambda t: t.fullname):
            try:
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(f"ANALYZE {self.engine.dialect.identifier_preparer.format_table(table)}"))
            except SQLAlchemyError:  # not the owner, or a lock: the statistics stay as they were
                continue

    # -- transactions --

    @contextlib.contextmanager
    def transaction(self, keep_open: bool = False) -> Iterator[Connection]:
        """Every state read and write of this thread inside the block shares one transaction: one
        commit for all of them, or none if the block raises (a worker step's state work).

        ``keep_open``: the transaction stays open after the block, and the state work that
        follows in this thread joins it, until ``commit_held()`` (or ``rollback_held()``). A
        worker keeps what HubSpot's answer settled open this way and commits it with the end of
        the batch; it commits first before any further HubSpot call."""
        outer = getattr(self._tx, "conn", None)
        if outer is not None:
            yield outer
            return
        conn = self.engine.connect()
        self._tx.conn, self._tx.trans = conn, conn.begin()
        try:
            yield conn
        except BaseException:
            self._end(commit=False)
            raise
        if not keep_open:
            self._end(commit=True)

    def commit_held(self) -> None:
        """Commit the transaction ``transaction(keep_open=True)`` left open in this thread, if any."""
        if getattr(self._tx, "conn", None) is not None:
            self._end(commit=True)

    def rollback_held(self) -> None:
        """Roll back the transaction left open in this thread, if any."""
        if getattr(self._tx, "conn", None) is not None:
            self._end(commit=False)

    def _end(self, commit: bool) -> None:
        conn, trans = self._tx.conn, self._tx.trans
        pending, self._tx.counts = getattr(self._tx, "counts", None), None
        self._tx.conn = self._tx.trans = None
        try:
            if commit:
                for run_id, counts in (pending or {}).items():  # last: the run's row is locked only to commit
                    self._add(conn, run_id, counts)
                trans.commit()
            else:
                trans.rollback()
                self._tx.analyze = None
        finally:
            conn.close()
        if commit:
            self._analyze_due()

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction of its own, or the caller's ``transaction()``."""
        outer = getattr(self._tx, "conn", None)
        if outer is not None:
            yield outer
        else:
            try:
                with self.engine.begin() as conn:
                    yield conn
            except BaseException:
                self._tx.analyze = None
                raise
            self._analyze_due()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection for reading, or the caller's ``transaction()`` (which sees its own writes)."""
        outer = getattr(self._tx, "conn", None)
        if outer is not None:
            yield outer
        else:
            with self.engine.connect() as conn:
                yield conn

    # -- schema --

    def ddl(self) -> str:
        """The DDL ``init_db`` runs, compiled for this database, for a DBA to review."""
        statements = []
        if self.schema:
            statements.append(str(CreateSchema(self.schema).compile(dialect=self.engine.dialect)).strip() + ";")
        for table in self.metadata.sorted_tables:
            statements.append(str(CreateTable(table).compile(dialect=self.engine.dialect)).strip() + ";")
            for index in table.indexes:
                statements.append(str(CreateIndex(index).compile(dialect=self.engine.dialect)).strip() + ";")
        return "\n\n".join(statements) + "\n"

    def init_db(self) -> None:
        """Create the schema and the tables, and add the columns a newer hubsync needs to
        tables an older one created (never dropping or changing anything)."""
        try:
            with self.engine.begin() as conn:
                if self.schema and self.schema not in inspect(conn).get_schema_names():
                    conn.execute(CreateSchema(self.schema))
                self.metadata.create_all(conn)
                for table, column in self._missing_columns(inspect(conn)):
                    definition = str(CreateColumn(column).compile(dialect=self.engine.dialect)).strip()
                    name = self.engine.dialect.identifier_preparer.format_table(table)
                    conn.execute(text(f"ALTER TABLE {name} ADD {definition}"))
        except SQLAlchemyError as err:
            raise SourceError(f"creating hubsync's state tables failed: {first_line(err)}") from None

    def _missing_columns(self, inspector: Any) -> list[tuple[Table, Column[Any]]]:
        existing = set(inspector.get_table_names(schema=self.schema))
        missing = []
        for table in self.metadata.sorted_tables:
            if table.name in existing:
                have = {c["name"] for c in inspector.get_columns(table.name, schema=self.schema)}
                missing += [(table, c) for c in table.columns if c.name not in have]
        return missing

    def check(self, hint: str = "hubsync init-db") -> None:
        """Raise ConfigurationError naming the fix when the state tables are missing."""
        try:
            existing = set(inspect(self.engine).get_table_names(schema=self.schema))
        except SQLAlchemyError as err:
            raise SourceError(f"cannot inspect the state schema: {first_line(err)}") from None
        missing = [t.name for t in self.metadata.sorted_tables if t.name not in existing]
        where = f"schema {self.schema!r}" if self.schema else "the database"
        if missing:
            raise ConfigurationError(
                f"hubsync's state tables are missing from {where} ({', '.join(missing)}): run `{hint}`"
            )
        columns = [f"{t.name}.{c.name}" for t, c in self._missing_columns(inspect(self.engine))]
        if columns:
            raise ConfigurationError(
                f"hubsync's state tables in {where} were made by an older hubsync and lack "
                f"{', '.join(columns)}: run `{hint}` to add them (nothing is dropped or changed)"
            )

    def _count(self, conn: Any, run_id: str, counts: dict[str, int]) -> None:
        """Add to a run's counters inside the caller's transaction. Inside ``transaction()`` they are
        added with one UPDATE just before its commit: every worker's transaction updates the run's
        one row, so it must hold that row's lock for the commit only, not while it writes records."""
        counts = {k: v for k, v in counts.items() if v}
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        if not counts:
            return
        if conn is getattr(self._tx, "conn", None):
            if getattr(self._tx, "counts", None) is None:
                self._tx.counts = {}
            mine = self._tx.counts.setdefault(run_id, {})
            for name, n in counts.items():
                mine[name] = mine.get(name, 0) + n
            return
        self._add(conn, run_id, counts)

    def _lock_run(self, conn: Any, run_id: str) -> None:
        """Lock the run's row until the caller's transaction ends: its counters held back for the
        commit are written now (that UPDATE takes the lock), or the row is touched."""
        held = getattr(self._tx, "counts", None) if conn is getattr(self._tx, "conn", None) else None
        counts = held.pop(run_id, None) if held else None
        if counts and any(counts.values()):
            self._add(conn, run_id, counts)
        else:
            conn.execute(update(self.runs).where(self.runs.c.run_id == run_id).values(status=self.runs.c.status))

    def _add(self, conn: Any, run_id: str, counts: dict[str, int]) -> None:
        counts = {k: v for k, v in counts.items() if v}
        if counts:
            conn.execute(update(self.runs).where(self.runs.c.run_id == run_id)
                         .values({self.runs.c[k]: self.runs.c[k] + v for k, v in counts.items()}))



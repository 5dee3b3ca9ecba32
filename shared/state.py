"""hubsync's own state, kept in the source database in its own schema (or table prefix).

- ``watermarks``: per object, the position the next delta starts after.
- ``runs``: per run, its history and counters.
- ``batches``: per queued batch, its status and last error (joined to poison messages).
- ``records``: per source row, its HubSpot id, the hash of the last payload HubSpot accepted,
  the source version, the last outcome and its reason.
- ``poison``: messages that kept failing, stored durably until replayed.

``hubsync init-db`` creates them; ``hubsync init-db --print-sql`` prints the DDL for review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Unicode,
    UnicodeText,
    and_,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import mssql as mssql_types
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.schema import CreateSchema, CreateTable

from shared.errors import ConfigurationError, SourceError
from shared.source.sql_reader import Position

# NVARCHAR(max) on SQL Server (UnicodeText alone may compile to the deprecated NTEXT)
LONG_TEXT = UnicodeText().with_variant(mssql_types.NVARCHAR(None), "mssql")

COUNTERS = ("rows_read", "batches", "created", "updated", "unchanged", "rejected", "failed", "missing", "api_calls")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class RecordState:
    source_key: str
    hubspot_id: str | None
    id_value: str | None
    payload_hash: str | None
    source_version: str | None
    last_outcome: str
    reason: str | None = None
    run_id: str | None = None


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
        *(Column(name, BigInteger, nullable=False, default=0) for name in COUNTERS),
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
    )
    Index(f"ix_{prefix}records_id_value", records.c.object_name, records.c.id_value)
    Index(f"ix_{prefix}records_outcome", records.c.object_name, records.c.last_outcome)
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


class StateStore:
    """Reads and writes hubsync's state tables. Safe to share between threads."""

    def __init__(self, engine: Engine, schema: str | None = "hubsync", prefix: str | None = None) -> None:
        if engine.dialect.name == "sqlite":
            schema = None  # SQLite has no schemas; the table prefix keeps hubsync's tables apart
        if prefix is None:
            # its own schema already keeps hubsync's tables apart (hubsync.records); without one,
            # a prefix does (hubsync_records)
            prefix = "" if schema else "hubsync_"
        self.engine = engine
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

    # -- schema --

    def ddl(self) -> str:
        """The DDL ``init_db`` runs, compiled for this database, for a DBA to review."""
        statements = []
        if self.schema:
            statements.append(str(CreateSchema(self.schema).compile(dialect=self.engine.dialect)).strip() + ";")
        for table in self.metadata.sorted_tables:
            statements.append(str(CreateTable(table).compile(dialect=self.engine.dialect)).strip() + ";")
            for index in table.indexes:
                from sqlalchemy.schema import CreateIndex

                statements.append(str(CreateIndex(index).compile(dialect=self.engine.dialect)).strip() + ";")
        return "\n\n".join(statements) + "\n"

    def init_db(self) -> None:
        try:
            with self.engine.begin() as conn:
                if self.schema and self.schema not in inspect(conn).get_schema_names():
                    conn.execute(CreateSchema(self.schema))
                self.metadata.create_all(conn)
        except SQLAlchemyError as err:
            raise SourceError(f"creating hubsync's state tables failed: {str(getattr(err, 'orig', err))[:300]}") from None

    def check(self, hint: str = "hubsync init-db") -> None:
        """Raise ConfigurationError naming the fix when the state tables are missing."""
        try:
            existing = set(inspect(self.engine).get_table_names(schema=self.schema))
        except SQLAlchemyError as err:
            raise SourceError(f"cannot inspect the state schema: {str(getattr(err, 'orig', err))[:300]}") from None
        missing = [t.name for t in self.metadata.sorted_tables if t.name not in existing]
        if missing:
            where = f"schema {self.schema!r}" if self.schema else "the database"
            raise ConfigurationError(
                f"hubsync's state tables are missing from {where} ({', '.join(missing)}): run `{hint}`"
            )

    # -- watermarks --

    def get_position(self, object_name: str) -> Position | None:
        with self.engine.connect() as conn:
            text = conn.execute(
                select(self.watermarks.c.position).where(self.watermarks.c.object_name == object_name)
            ).scalar_one_or_none()
        return Position.from_json(text) if text else None

    def set_position(self, object_name: str, position: Position) -> None:
        values = {"position": position.to_json(), "updated_at": utcnow()}
        with self.engine.begin() as conn:
            done = conn.execute(
                update(self.watermarks).where(self.watermarks.c.object_name == object_name).values(**values)
            ).rowcount
            if not done:
                conn.execute(self.watermarks.insert().values(object_name=object_name, **values))

    def reset_position(self, object_name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.watermarks.delete().where(self.watermarks.c.object_name == object_name))

    # -- runs --

    def start_run(self, run_id: str, mode: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.runs.insert().values(
                    run_id=run_id, mode=mode, status="running", started_at=utcnow(),
                    **{c: 0 for c in COUNTERS},
                )
            )

    def add_counts(self, run_id: str, **counts: int) -> None:
        counts = {k: v for k, v in counts.items() if v}
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        if not counts:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(self.runs)
                .where(self.runs.c.run_id == run_id)
                .values({self.runs.c[k]: self.runs.c[k] + v for k, v in counts.items()})
            )

    def set_run_status(self, run_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(self.runs).where(self.runs.c.run_id == run_id).values(status=status))

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        from shared.sync_logger import scrub_secrets

        error = scrub_secrets(error) if error else error
        with self.engine.begin() as conn:
            conn.execute(
                update(self.runs)
                .where(self.runs.c.run_id == run_id)
                .values(status=status, finished_at=utcnow(), error=error)
            )

    def maybe_finish_run(self, run_id: str) -> bool:
        """Close a fully enqueued run once none of its batches is still open."""
        b = self.batches.c
        open_batches = (
            select(func.count()).select_from(self.batches)
            .where(and_(b.run_id == run_id, b.status.in_(("queued", "failed"))))
            .scalar_subquery()
        )
        with self.engine.begin() as conn:
            done = conn.execute(
                update(self.runs)
                .where(and_(self.runs.c.run_id == run_id, self.runs.c.status == "enqueued", open_batches == 0))
                .values(status="finished", finished_at=utcnow())
            ).rowcount
        return bool(done)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.runs).where(self.runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.runs).order_by(self.runs.c.started_at.desc()).limit(limit)
            ).mappings().all()
        return [dict(r) for r in rows]

    # -- batches --

    def record_batch(self, batch_id: str, run_id: str, object_name: str, size: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.batches.insert().values(
                    batch_id=batch_id, run_id=run_id, object_name=object_name, size=size,
                    status="queued", attempts=0, updated_at=utcnow(),
                )
            )

    def batch_finished(self, batch_id: str, status: str, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(self.batches)
                .where(self.batches.c.batch_id == batch_id)
                .values(status=status, last_error=error, attempts=self.batches.c.attempts + 1, updated_at=utcnow())
            )

    def batch_error(self, batch_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(self.batches.c.last_error).where(self.batches.c.batch_id == batch_id)
            ).scalar_one_or_none()

    def open_batches(self, run_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(self.batches)
                .where(and_(self.batches.c.run_id == run_id, self.batches.c.status.in_(("queued", "failed"))))
            ).scalar_one()

    # -- records --

    def get_records(self, object_name: str, source_keys: Sequence[str]) -> dict[str, RecordState]:
        if not source_keys:
            return {}
        r = self.records.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.records).where(and_(r.object_name == object_name, r.source_key.in_(list(source_keys))))
            ).mappings().all()
        return {row["source_key"]: _record(row) for row in rows}

    def owners_of(self, object_name: str, id_values: Iterable[str]) -> dict[str, str]:
        """Which source key already owns each id value (id_value -> source_key)."""
        values = list(set(id_values))
        if not values:
            return {}
        r = self.records.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(r.id_value, r.source_key).where(
                    and_(r.object_name == object_name, r.id_value.in_(values), r.hubspot_id.is_not(None))
                )
            ).all()
        return {row.id_value: row.source_key for row in rows}

    def save_records(self, object_name: str, states: Sequence[RecordState], run_id: str | None) -> set[str]:
        """Insert or update records; a record already holding a newer source version is kept.

        Returns the source keys of written records (with a HubSpot id) that were refused because a
        newer version was recorded meanwhile: the caller must sync those rows again. New records
        go in with one multi-row INSERT; existing ones take one guarded UPDATE each.
        """
        refused: set[str] = set()
        if not states:
            return refused
        now = utcnow()
        r = self.records.c
        by_key = {st.source_key: st for st in states}
        with self.engine.begin() as conn:
            existing = set(conn.execute(
                select(r.source_key).where(and_(r.object_name == object_name, r.source_key.in_(list(by_key))))
            ).scalars())
            fresh = [st for key, st in by_key.items() if key not in existing]
            if fresh:
                try:
                    with conn.begin_nested():
                        conn.execute(self.records.insert(),
                                     [self._insert_values(object_name, st, run_id, now) for st in fresh])
                except IntegrityError:  # another worker inserted some of them meanwhile
                    existing.update(st.source_key for st in fresh)
            for key in existing:
                st = by_key[key]
                stmt = self._guarded_update(object_name, st, run_id, now)
                if conn.execute(stmt).rowcount:
                    continue
                found = conn.execute(
                    select(func.count()).select_from(self.records)
                    .where(and_(r.object_name == object_name, r.source_key == key))
                ).scalar_one()
                if not found:
                    conn.execute(self.records.insert().values(**self._insert_values(object_name, st, run_id, now)))
                elif st.hubspot_id is not None:
                    refused.add(key)  # a newer version was recorded meanwhile: never go back
        return refused

    def _insert_values(self, object_name: str, st: RecordState, run_id: str | None, now: dt.datetime) -> dict[str, Any]:
        return {
            "object_name": object_name, "source_key": st.source_key, "hubspot_id": st.hubspot_id,
            "id_value": st.id_value if st.hubspot_id else None,
            "payload_hash": st.payload_hash if st.hubspot_id else None,
            "source_version": st.source_version if st.hubspot_id else None,
            "last_outcome": st.last_outcome, "reason": st.reason, "run_id": run_id, "updated_at": now,
        }

    def _guarded_update(self, object_name: str, st: RecordState, run_id: str | None, now: dt.datetime) -> Any:
        r = self.records.c
        values: dict[str, Any] = {"last_outcome": st.last_outcome, "reason": st.reason, "run_id": run_id,
                                  "updated_at": now}
        if st.hubspot_id is not None:
            # what HubSpot now holds; a rejection or a miss must not forget it
            values.update(hubspot_id=st.hubspot_id, id_value=st.id_value, payload_hash=st.payload_hash,
                          source_version=st.source_version)
        stmt = update(self.records).where(and_(r.object_name == object_name, r.source_key == st.source_key))
        if st.source_version is not None and st.hubspot_id is not None:
            stmt = stmt.where(r.source_version.is_(None) | (r.source_version <= st.source_version))
        return stmt.values(**values)

    def forget_hash(self, object_name: str, source_key: str) -> None:
        """Forget what HubSpot last accepted for a record, so its row is sent again."""
        r = self.records.c
        with self.engine.begin() as conn:
            conn.execute(
                update(self.records)
                .where(and_(r.object_name == object_name, r.source_key == source_key))
                .values(payload_hash=None)
            )

    def forget_hubspot_id(self, object_name: str, source_key: str) -> None:
        r = self.records.c
        with self.engine.begin() as conn:
            conn.execute(
                update(self.records)
                .where(and_(r.object_name == object_name, r.source_key == source_key))
                .values(hubspot_id=None, payload_hash=None)
            )

    def all_records(self, object_name: str) -> list[RecordState]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.records).where(self.records.c.object_name == object_name)
            ).mappings().all()
        return [_record(r) for r in rows]

    def outcome_counts(self, object_name: str) -> dict[str, int]:
        r = self.records.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(r.last_outcome, func.count()).where(r.object_name == object_name).group_by(r.last_outcome)
            ).all()
        return {outcome: n for outcome, n in rows}

    # -- poison --

    def park_poison(self, queue: str, body: str, message_id: str | None, dequeue_count: int | None,
                    batch_id: str | None, error: str | None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                self.poison.insert().values(
                    queue=queue, message_id=message_id, batch_id=batch_id, body=body,
                    dequeue_count=dequeue_count, error=error, status="parked", received_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])

    def list_poison(self, status: str | None = "parked") -> list[dict[str, Any]]:
        stmt = select(self.poison).order_by(self.poison.c.id)
        if status:
            stmt = stmt.where(self.poison.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]

    def update_poison_error(self, poison_id: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(self.poison).where(self.poison.c.id == poison_id).values(error=error))

    def mark_replayed(self, poison_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(self.poison).where(self.poison.c.id == poison_id).values(status="replayed", replayed_at=utcnow())
            )


def _record(row: Any) -> RecordState:
    return RecordState(
        source_key=row["source_key"], hubspot_id=row["hubspot_id"], id_value=row["id_value"],
        payload_hash=row["payload_hash"], source_version=row["source_version"],
        last_outcome=row["last_outcome"], reason=row["reason"], run_id=row["run_id"],
    )

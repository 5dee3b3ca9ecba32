"""Per source row: its HubSpot id, what HubSpot last accepted, and its last outcome and reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update

from shared.state.tables import StateTables, utcnow


@dataclass
class RecordState:
    """What hubsync knows of one source row: its HubSpot record and its last outcome."""

    source_key: str
    hubspot_id: str | None
    id_value: str | None
    payload_hash: str | None
    source_version: str | None
    last_outcome: str
    reason: str | None = None
    run_id: str | None = None
    seen_version: str | None = None  # the source version this outcome was decided on (any outcome)
    sending_version: str | None = None  # the highest version a delivery claimed to send
    sending_value: str | None = None  # the id property value that delivery sent it under
    source_hash: str | None = None  # the source row's values and mapping that gave payload_hash


class Records(StateTables):
    def get_records(self, object_name: str, source_keys: Sequence[str]) -> dict[str, RecordState]:
        if not source_keys:
            return {}
        r = self.records.c
        with self._connect() as conn:
            rows = conn.execute(
                select(self.records).where(and_(r.object_name == object_name, self._in(r.source_key, list(source_keys))))
            ).mappings().all()
        return {row["source_key"]: _record(row) for row in rows}

    def owners_of(self, object_name: str, id_values: Iterable[str]) -> dict[str, str]:
        """Which source key already owns each id value (id_value -> source_key)."""
        values = list(set(id_values))
        if not values:
            return {}
        r = self.records.c
        with self._connect() as conn:
            rows = conn.execute(
                select(r.id_value, r.source_key).where(
                    and_(r.object_name == object_name, self._in(r.id_value, values), r.hubspot_id.is_not(None))
                )
            ).all()
        return {row.id_value: row.source_key for row in rows}

    def save_records(self, object_name: str, states: Sequence[RecordState], run_id: str | None,
                     count: Callable[[set[str]], dict[str, int]] | None = None) -> set[str]:
        """Insert or update records; a record already holding a newer source version is kept.

        Returns the source keys of written records (with a HubSpot id) that were refused because a
        newer version was recorded meanwhile: the caller must sync those rows again. New records
        go in with one multi-row INSERT; existing ones with one UPDATE per shape of values (the
        driver's executemany), guarded on the version; one SELECT then finds which were refused.
        ``count`` turns the refused keys into counters added to the run in the same transaction.
        """
        refused: set[str] = set()
        if not states:
            return refused
        now = utcnow()
        r = self.records.c
        by_key = {st.source_key: st for st in states}
        with self._begin() as conn:
            existing = set(conn.execute(
                select(r.source_key).where(and_(r.object_name == object_name, self._in(r.source_key, list(by_key))))
            ).scalars())
            # rows are written in key order, as every writer does: two transactions that touch the same
            # records then wait for each other in turn and never in a cycle (a deadlock)
            fresh = [by_key[key] for key in sorted(by_key) if key not in existing]
            if not self._insert_absent(conn, self.records,
                                       [self._insert_values(object_name, st, run_id, now) for st in fresh]):
                existing.update(st.source_key for st in fresh)  # another worker inserted some meanwhile
            shapes: dict[tuple[bool, bool], list[RecordState]] = {}
            for key in sorted(existing):
                st = by_key[key]
                shapes.setdefault((st.hubspot_id is not None, st.seen_version is not None), []).append(st)
            for (written, seen), group in shapes.items():
                conn.execute(self._guarded_update(object_name, written, seen),
                             [self._update_params(st, run_id, now) for st in group])
            guarded = [by_key[k] for k in existing if by_key[k].hubspot_id is not None
                       and by_key[k].source_version is not None]
            stored = dict(conn.execute(select(r.source_key, r.source_version).where(and_(
                r.object_name == object_name, self._in(r.source_key, [st.source_key for st in guarded])))).all()) \
                if guarded else {}
            for st in guarded:
                if st.source_key not in stored:  # removed meanwhile: this write is what HubSpot holds
                    conn.execute(self.records.insert().values(**self._insert_values(object_name, st, run_id, now)))
                elif (stored[st.source_key] or "") > (st.source_version or ""):
                    refused.add(st.source_key)  # a newer version was recorded meanwhile: never go back
            if count is not None and run_id is not None:
                self._count(conn, run_id, count(refused))
        return refused

    def _insert_values(self, object_name: str, st: RecordState, run_id: str | None, now: dt.datetime) -> dict[str, Any]:
        return {
            "object_name": object_name, "source_key": st.source_key, "hubspot_id": st.hubspot_id,
            "id_value": st.id_value if st.hubspot_id else None,
            "payload_hash": st.payload_hash if st.hubspot_id else None,
            "source_version": st.source_version if st.hubspot_id else None,
            "last_outcome": st.last_outcome, "reason": st.reason, "run_id": run_id, "updated_at": now,
            "seen_version": st.seen_version, "source_hash": st.source_hash if st.hubspot_id else None,
        }

    def _guarded_update(self, object_name: str, written: bool, seen: bool) -> Any:
        """The UPDATE of existing records of one shape (``written``: with what HubSpot now holds;
        ``seen``: with the version the outcome was decided on), for executemany."""
        r = self.records.c
        values: dict[str, Any] = {"last_outcome": bindparam("p_outcome"), "reason": bindparam("p_reason"),
                                  "run_id": bindparam("p_run"), "updated_at": bindparam("p_now")}
        if seen:
            values["seen_version"] = bindparam("p_seen")
        stmt = update(self.records).where(and_(r.object_name == object_name, r.source_key == bindparam("p_key")))
        if written:
            # what HubSpot now holds; a rejection or a miss must not forget it
            values.update(hubspot_id=bindparam("p_id"), id_value=bindparam("p_value"),
                          payload_hash=bindparam("p_hash"), source_version=bindparam("p_version"),
                          source_hash=bindparam("p_source"))
            # never back to an older version (a write of no version, an id repair, always applies)
            version = bindparam("p_version", type_=r.source_version.type)
            stmt = stmt.where(version.is_(None) | r.source_version.is_(None) | (r.source_version <= version))
        return stmt.values(**values)

    @staticmethod
    def _update_params(st: RecordState, run_id: str | None, now: dt.datetime) -> dict[str, Any]:
        return {"p_key": st.source_key, "p_outcome": st.last_outcome, "p_reason": st.reason, "p_run": run_id,
                "p_now": now, "p_seen": st.seen_version, "p_id": st.hubspot_id, "p_value": st.id_value,
                "p_hash": st.payload_hash, "p_version": st.source_version,
                "p_source": st.source_hash}

    def forget_hash(self, object_name: str, source_key: str) -> None:
        """Forget what HubSpot last accepted for a record, so its row is sent again."""
        self._forget(object_name, source_key, payload_hash=None, source_hash=None)

    def forget_hubspot_id(self, object_name: str, source_key: str) -> None:
        """Forget the record's HubSpot id too: it is matched again by its id property."""
        self._forget(object_name, source_key, hubspot_id=None, payload_hash=None, source_hash=None)

    def claim_sends(self, object_name: str, sends: Sequence[tuple[str, str, str | None]]) -> set[str]:
        """Before sending (source key, version, id value): record that this version may reach HubSpot
        (the planner claims with no id value: the row is queued, nothing is sent yet).
        Returns the keys for which a newer version was claimed already: that delivery sends the
        row, this older one must not. New rows get a record in state ``pending``."""
        if not sends:
            return set()
        with self._begin() as conn:
            return self._claim_sends(conn, object_name, sends)

    def _claim_sends(self, conn: Any, object_name: str, sends: Sequence[tuple[str, str, str | None]]) -> set[str]:
        """``claim_sends`` inside the caller's transaction."""
        if not sends:
            return set()
        r = self.records.c
        now = utcnow()
        by_key = {key: (version, value) for key, version, value in sends}
        refused: set[str] = set()
        claimed = dict(conn.execute(select(r.source_key, r.sending_version).where(and_(
            r.object_name == object_name, self._in(r.source_key, list(by_key))))).all())
        fresh = sorted(k for k in by_key if k not in claimed)  # key order: see save_records
        if not self._insert_absent(conn, self.records, [{
                "object_name": object_name, "source_key": k, "last_outcome": "pending", "updated_at": now,
                "sending_version": by_key[k][0], "sending_value": by_key[k][1]} for k in fresh]):
            # another delivery inserted some meanwhile: claim them as the others
            claimed.update(dict(conn.execute(select(r.source_key, r.sending_version).where(and_(
                r.object_name == object_name, self._in(r.source_key, fresh)))).all()))
        refused = {k for k, v in claimed.items() if v is not None and v > by_key[k][0]}
        mine = [{"k": k, "v": by_key[k][0], "val": by_key[k][1]} for k in sorted(claimed) if k not in refused]
        if mine:  # one statement for the batch; the guard keeps a newer claim made since the read
            conn.execute(update(self.records).where(and_(
                r.object_name == object_name, r.source_key == bindparam("k"),
                r.sending_version.is_(None) | (r.sending_version <= bindparam("v")),
            )).values(sending_version=bindparam("v"),
                      sending_value=func.coalesce(bindparam("val"), r.sending_value)), mine)
        return refused

    def newer_sends(self, object_name: str, sent: dict[str, str]) -> set[str]:
        """Keys whose claimed version is now newer than the one this delivery sent: its write may
        have landed after theirs, so the row must be sent again from SQL."""
        if not sent:
            return set()
        r = self.records.c
        with self._connect() as conn:
            rows = conn.execute(select(r.source_key, r.sending_version).where(and_(
                r.object_name == object_name, self._in(r.source_key, list(sent))))).all()
        return {key for key, version in rows if version is not None and version > sent[key]}

    def forget_versions(self, object_name: str) -> None:
        """Forget the source versions of an object's records (its table or watermark column changed:
        the old versions compare with nothing). HubSpot ids and payload hashes stay, so rows that
        did not change still cost no calls."""
        with self._begin() as conn:
            conn.execute(update(self.records).where(self.records.c.object_name == object_name)
                         .values(source_version=None, seen_version=None, sending_version=None))

    def _forget(self, object_name: str, source_key: str, **values: None) -> None:
        r = self.records.c
        with self._begin() as conn:
            conn.execute(update(self.records)
                         .where(and_(r.object_name == object_name, r.source_key == source_key)).values(**values))

    def all_records(self, object_name: str) -> list[RecordState]:
        with self._connect() as conn:
            rows = conn.execute(
                select(self.records).where(self.records.c.object_name == object_name)
            ).mappings().all()
        return [_record(r) for r in rows]

    def outcome_counts(self, object_name: str) -> dict[str, int]:
        r = self.records.c
        with self._connect() as conn:
            rows = conn.execute(
                select(r.last_outcome, func.count()).where(r.object_name == object_name).group_by(r.last_outcome)
            ).all()
        return {outcome: n for outcome, n in rows}


def _record(row: Any) -> RecordState:
    return RecordState(
        source_key=row["source_key"], hubspot_id=row["hubspot_id"], id_value=row["id_value"],
        payload_hash=row["payload_hash"], source_version=row["source_version"],
        last_outcome=row["last_outcome"], reason=row["reason"], run_id=row["run_id"],
        seen_version=row["seen_version"], sending_version=row["sending_version"], sending_value=row["sending_value"],
        source_hash=row["source_hash"],
    )

"""Claims on HubSpot's unique values: which source row may write each one.

A row claims every unique value it sends (its ``id_property`` value, and a contact's email)
before the call, in one transaction; a value already claimed by another row is a conflict, and
that row is rejected without a HubSpot call. The primary key (object type, property, value)
makes a claim atomic across threads, processes and Function instances. After HubSpot accepted
the write the claims are *held* and the row's older values are released; a rejected or failed
row releases what it had only asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update

from shared.errors import RetryableError
from shared.state.tables import StateTables, utcnow


@dataclass(frozen=True)
class Claim:
    property: str
    value: str
    object_name: str
    source_key: str
    held: bool = False  # HubSpot accepted it; otherwise the row is sending it

    @property
    def slot(self) -> tuple[str, str]:
        return self.property, self.value


class Claims(StateTables):
    def claim(self, object_type: str, wanted: Sequence[Claim]) -> dict[tuple[str, str], Claim]:
        """Claim each wanted (property, value) for its row; returns the slots another row holds,
        with that row's claim. Wanted slots must be distinct."""
        if not wanted:
            return {}
        for _ in range(3):  # another worker may insert the same slot between our read and our write
            with self._begin() as conn:
                existing = self._existing(conn, object_type, wanted)
                conflicts = {}
                for c in wanted:
                    other = existing.get(c.slot)
                    if other is not None and (other.object_name, other.source_key) != (c.object_name, c.source_key):
                        conflicts[c.slot] = other
                fresh = sorted((c for c in wanted if c.slot not in existing), key=lambda c: c.slot)  # one order
                if not self._insert_absent(conn, self.claims, [
                        {"object_type": object_type, "property": c.property, "value": c.value,
                         "object_name": c.object_name, "source_key": c.source_key, "held": False,
                         "claimed_at": utcnow()} for c in fresh]):
                    continue  # read again: what this row inserted is its own, what another did a conflict
                return conflicts
        raise RetryableError("claims on unique values kept colliding with another worker's; retrying the batch")

    def _existing(self, conn, object_type: str, wanted: Sequence[Claim]) -> dict[tuple[str, str], Claim]:  # type: ignore[no-untyped-def]
        c = self.claims.c
        slots = {w.slot for w in wanted}
        rows = conn.execute(select(c.property, c.value, c.object_name, c.source_key, c.held).where(and_(
            c.object_type == object_type, self._in(c.value, sorted({v for _, v in slots})),
            self._in(c.property, sorted({p for p, _ in slots}))))).all()
        return {(r.property, r.value): Claim(r.property, r.value, r.object_name, r.source_key, r.held)
                for r in rows if (r.property, r.value) in slots}

    def holders(self, object_type: str, prop: str, values: Iterable[str]) -> dict[str, Claim]:
        """Who claims each value (value -> claim), held or not."""
        c = self.claims.c
        found: dict[str, Claim] = {}
        values = sorted(set(values))
        with self._connect() as conn:
            for start in range(0, len(values), 500):
                rows = conn.execute(select(c.value, c.object_name, c.source_key, c.held).where(and_(
                    c.object_type == object_type, c.property == prop, self._in(c.value, values[start:start + 500])))).all()
                found.update({r.value: Claim(prop, r.value, r.object_name, r.source_key, r.held) for r in rows})
        return found

    def hold(self, object_type: str, object_name: str, accepted: dict[str, list[tuple[str, str]]]) -> None:
        """HubSpot accepted these rows (source key -> their unique (property, value) slots): their
        claims on those values are held from now on, and their claims on older values released."""
        if not accepted:
            return
        c = self.claims.c
        keys = sorted(accepted)
        mine = and_(c.object_type == object_type, c.object_name == object_name, self._in(c.source_key, keys))
        with self._begin() as conn:
            rows = conn.execute(select(c.property, c.value, c.source_key).where(mine)).all()
            for r in rows:
                if (r.property, r.value) not in accepted[r.source_key]:
                    conn.execute(delete(self.claims).where(and_(
                        c.object_type == object_type, c.property == r.property, c.value == r.value)))
            conn.execute(update(self.claims).where(and_(mine, c.held.is_(False))).values(held=True))

    def release_unheld(self, object_type: str, object_name: str, source_keys: Iterable[str]) -> None:
        """Forget what these rows only asked for (rejected, failed, or a duplicate's loser)."""
        keys = sorted(set(source_keys))
        if not keys:
            return
        c = self.claims.c
        with self._begin() as conn:
            conn.execute(delete(self.claims).where(and_(
                c.object_type == object_type, c.object_name == object_name, self._in(c.source_key, keys),
                c.held.is_(False))))

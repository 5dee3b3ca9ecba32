"""Per source row and declared association: the target row its foreign key names, and whether
hubsync made the link in HubSpot.

``status``: ``made`` (HubSpot holds the link between ``from_id`` and ``to_id``), ``pending`` (the
target has no HubSpot id yet: made as soon as it has one), ``failed`` (HubSpot refused it, with
its reason), ``removed`` (hubsync removed the link it had made), ``none`` (the foreign key is
NULL). Only links recorded ``made`` here are ever removed: one somebody made by hand is not
hubsync's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update

from shared.errors import RetryableError
from shared.state.tables import StateTables, utcnow


@dataclass
class LinkState:
    object_name: str
    source_key: str
    association: str
    to_object: str
    to_key: str | None
    status: str
    type_id: str | None = None
    from_id: str | None = None
    to_id: str | None = None
    reason: str | None = None
    run_id: str | None = None

    @property
    def slot(self) -> tuple[str, str, str]:
        return self.object_name, self.source_key, self.association


_FIELDS = ("to_object", "to_key", "type_id", "from_id", "to_id", "status", "reason", "run_id")


class Associations(StateTables):
    def links_of(self, object_name: str, source_keys: Sequence[str]) -> dict[tuple[str, str], LinkState]:
        """The recorded links of these rows: (source key, association) -> link."""
        if not source_keys:
            return {}
        a = self.links.c
        with self._connect() as conn:
            rows = conn.execute(select(self.links).where(and_(
                a.object_name == object_name, self._in(a.source_key, list(source_keys))))).mappings().all()
        return {(r["source_key"], r["association"]): _link(r) for r in rows}

    def save_links(self, links: Sequence[LinkState],
                   expected: dict[tuple[str, str, str], LinkState | None] | None = None) -> list[LinkState]:
        """Insert or update links (inside the caller's transaction when there is one).

        With ``expected`` (slot -> the link as the caller read it, None: absent), a link is saved
        only if its row is still as read: the rows are locked first, so a sweep and a row's own
        batch deciding one link at once cannot both win. Returns the current state of each link
        that was not saved (the caller acts on what happened meanwhile)."""
        if not links:
            return []
        now = utcnow()
        a = self.links.c
        conflicts: list[LinkState] = []
        with self._begin() as conn:
            by_object: dict[str, list[LinkState]] = {}
            for link in links:
                by_object.setdefault(link.object_name, []).append(link)
            for object_name, group in sorted(by_object.items()):
                keys = sorted({link.source_key for link in group})
                stmt = select(self.links).where(and_(a.object_name == object_name, self._in(a.source_key, keys)))
                if expected is not None:
                    stmt = stmt.order_by(a.source_key, a.association).with_for_update()
                current = {(r["source_key"], r["association"]): _link(r)
                           for r in conn.execute(stmt).mappings().all()}
                ordered = sorted(group, key=lambda link: link.slot)  # one order: no deadlock between workers
                if expected is not None:
                    moved = [link for link in ordered
                             if not _same(current.get((link.source_key, link.association)), expected.get(link.slot))]
                    conflicts += [current[(link.source_key, link.association)] for link in moved
                                  if (link.source_key, link.association) in current]
                    ordered = [link for link in ordered if link not in moved]
                fresh = [link for link in ordered if (link.source_key, link.association) not in current]
                if not self._insert_absent(conn, self.links, [_values(link, now) for link in fresh]):
                    if expected is not None:  # inserted by another worker since the read: theirs stands
                        raise RetryableError("an association was recorded by another worker meanwhile; retrying")
                    current.update({(link.source_key, link.association): link for link in fresh})
                old = [link for link in ordered if (link.source_key, link.association) in current]
                if old:
                    conn.execute(
                        update(self.links).where(and_(
                            a.object_name == bindparam("p_object"), a.source_key == bindparam("p_key"),
                            a.association == bindparam("p_assoc")))
                        .values({name: bindparam(f"p_{name}") for name in (*_FIELDS, "updated_at")}),
                        [{"p_object": link.object_name, "p_key": link.source_key, "p_assoc": link.association,
                          **{f"p_{name}": getattr(link, name) for name in _FIELDS}, "p_updated_at": now}
                         for link in old])
        return conflicts

    def pending_to(self, to_object: str, to_keys: Iterable[str]) -> list[LinkState]:
        """Links waiting for one of these target rows to have a HubSpot id."""
        keys = sorted(set(to_keys))
        if not keys:
            return []
        a = self.links.c
        found: list[LinkState] = []
        with self._connect() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(select(self.links).where(and_(
                    a.to_object == to_object, self._in(a.to_key, keys[start:start + 500]),
                    a.status == "pending"))).mappings().all()
                found += [_link(r) for r in rows]
        return found

    def pending_ready(self, object_names: Iterable[str] | None = None, limit: int = 2000) -> list[LinkState]:
        """Pending links whose target row has a HubSpot id by now (a sweep: another worker recorded
        it between this row's look-up and its commit). ``to_id`` is filled in."""
        a, r = self.links.c, self.records.c
        stmt = (select(self.links, r.hubspot_id.label("target_id"))
                .join(self.records, and_(r.object_name == a.to_object, r.source_key == a.to_key))
                .where(and_(a.status == "pending", r.hubspot_id.is_not(None)))
                .order_by(a.object_name, a.source_key, a.association).limit(limit))
        if object_names is not None:
            stmt = stmt.where(self._in(a.object_name, sorted(set(object_names))))
        with self._connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        out = []
        for row in rows:
            link = _link(row)
            link.to_id = row["target_id"]
            out.append(link)
        return out

    def pending_on_rejected(self, object_names: Iterable[str]) -> list[tuple[LinkState, str | None]]:
        """Pending links whose target row was rejected, with the target's reason."""
        a, r = self.links.c, self.records.c
        stmt = (select(self.links, r.reason.label("target_reason"))
                .join(self.records, and_(r.object_name == a.to_object, r.source_key == a.to_key))
                .where(and_(a.status == "pending", r.last_outcome == "rejected", r.hubspot_id.is_(None),
                            self._in(a.object_name, sorted(set(object_names))))))
        with self._connect() as conn:
            return [(_link(row), row["target_reason"]) for row in conn.execute(stmt).mappings().all()]

    def link_counts(self, object_names: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Per object, how many of its rows' links are in each status."""
        a = self.links.c
        stmt = select(a.object_name, a.status, func.count()).group_by(a.object_name, a.status)
        if object_names is not None:
            stmt = stmt.where(self._in(a.object_name, sorted(set(object_names))))
        out: dict[str, dict[str, int]] = {}
        with self._connect() as conn:
            for name, status, n in conn.execute(stmt).all():
                out.setdefault(name, {})[status] = n
        return out

    def unmade_links(self, object_name: str | None = None, limit: int = 50) -> list[LinkState]:
        """Links that are pending or failed, with their reasons (``status --rejected``)."""
        a = self.links.c
        stmt = select(self.links).where(self._in(a.status, ["pending", "failed"]))
        if object_name is not None:
            stmt = stmt.where(a.object_name == object_name)
        stmt = stmt.order_by(a.updated_at.desc()).limit(limit)
        with self._connect() as conn:
            return [_link(r) for r in conn.execute(stmt).mappings().all()]


def _same(now: LinkState | None, then: LinkState | None) -> bool:
    """The link row is as the caller read it (what matters: its status, target and ids)."""
    if now is None or then is None:
        return now is None and then is None
    return (now.status, now.to_key, now.from_id, now.to_id) == (then.status, then.to_key, then.from_id, then.to_id)


def _values(link: LinkState, now: Any) -> dict[str, Any]:
    return {"object_name": link.object_name, "source_key": link.source_key, "association": link.association,
            **{name: getattr(link, name) for name in _FIELDS}, "updated_at": now}


def _link(r: Any) -> LinkState:
    return LinkState(
        object_name=r["object_name"], source_key=r["source_key"], association=r["association"],
        to_object=r["to_object"], to_key=r["to_key"], status=r["status"], type_id=r["type_id"],
        from_id=r["from_id"], to_id=r["to_id"], reason=r["reason"], run_id=r["run_id"],
    )

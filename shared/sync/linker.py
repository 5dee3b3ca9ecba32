"""Associations from foreign keys: after a batch's rows are written, link each to the record of
the row its foreign key names.

A link whose target has no HubSpot id yet is recorded *pending* (state, not a retry): it is
made when the target gets one: by the batch that writes the target (``link_targets``), or by
the sweep at the end of a run (``sweep``) for one whose target was written between this
batch's look-up and its commit. Links are created with the v4 batch endpoint, at most 2,000 per
call, only when state does not record them made already; HubSpot keeps one link per pair and
type, so a link made twice by two workers is still one link. With ``remove_stale`` a link
hubsync made is removed when the foreign key changes or becomes NULL; a link it did not make
(state has no ``made`` row for it) is never touched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from shared.config import AssociationSpec, ObjectConfig, SyncConfig
from shared.errors import ConfigurationError, MalformedMessage
from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.keys import key_to_json
from shared.source.delta import DeltaRow
from shared.source.table import TableCache
from shared.state import LinkState, StateStore
from shared.sync_logger import log_event

log = logging.getLogger("hubsync.links")


@dataclass
class LinkCounts:
    linked: int = 0
    unlinked: int = 0
    pending: int = 0
    failed: int = 0

    def add(self, other: LinkCounts) -> None:
        self.linked += other.linked
        self.unlinked += other.unlinked
        self.pending += other.pending
        self.failed += other.failed


@dataclass
class Linker:
    config: SyncConfig
    state: StateStore
    writer: HubSpotWriter
    sources: TableCache
    _types: dict[tuple[str, str, str | None], tuple[str, int]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- association types --

    def type_of(self, obj: ObjectConfig, assoc: AssociationSpec) -> tuple[str, int]:
        """(category, type id) of a declared association: its label's, or the pair's default
        type; one labels call per pair of object types, remembered."""
        target = self.config.object(assoc.to)
        cache_key = (obj.object_type, target.object_type, assoc.label)
        with self._lock:
            found = self._types.get(cache_key)
        if found is not None:
            return found
        types = self.writer.association_types(obj.object_type, target.object_type)
        if assoc.label is None:
            unlabelled = sorted((t for t in types if t.get("label") in (None, "")),
                                key=lambda t: (t.get("category") != "HUBSPOT_DEFINED", int(t.get("typeId") or 0)))
            chosen = unlabelled[0] if unlabelled else None
        else:
            chosen = next((t for t in types if (t.get("label") or "").lower() == assoc.label.lower()), None)
        if chosen is None:
            index = self.config.objects.index(obj)
            j = obj.associations.index(assoc)
            labels = sorted({t["label"] for t in types if t.get("label")})
            what = f"no association label {assoc.label!r}" if assoc.label else "no default association type"
            raise ConfigurationError(
                f"objects[{index}].associations[{j}].label: HubSpot has {what} from {obj.object_type} to "
                f"{target.object_type} (labels it has: {', '.join(map(repr, labels)) or 'none'})")
        result = (str(chosen.get("category")), int(chosen["typeId"]))
        with self._lock:
            self._types[cache_key] = result
        return result

    def check(self, objects: Iterable[ObjectConfig]) -> list[str]:
        """Problems with the declared associations of ``objects`` (for ``validate``)."""
        problems = []
        for obj in objects:
            for assoc in obj.associations:
                try:
                    self.type_of(obj, assoc)
                except ConfigurationError as err:
                    problems.append(str(err))
        return problems

    # -- a batch's rows --

    def link_rows(self, obj: ObjectConfig, run_id: str, rows: dict[str, DeltaRow],
                  ids: dict[str, str]) -> LinkCounts:
        """Make the links the foreign keys of these rows (source key -> row) want, for the rows
        that have a HubSpot id (``ids``); record the rest pending, failed, or none."""
        counts = LinkCounts()
        if not obj.associations:
            return counts
        keys = sorted(k for k in rows if k in ids and rows[k].row is not None and not rows[k].error)
        if not keys:
            return counts
        existing = self.state.links_of(obj.name, keys)
        changed: list[LinkState] = []
        to_make: list[LinkState] = []
        to_remove: list[LinkState] = []
        for assoc in obj.associations:
            target = self.config.object(assoc.to)
            wanted = self.wanted(assoc, rows, keys)
            targets = self.state.get_records(target.name, sorted({v for v in wanted.values() if v and v[0] != "!"}))
            unknown = sorted({v for v in wanted.values() if v and v[0] != "!" and v not in targets})
            in_sql = set(self.sources.get(target).read_rows([_key(v) for v in unknown])) if unknown else set()
            for key in keys:
                before = existing.get((key, assoc.name))
                to_key = wanted[key]
                link = LinkState(obj.name, key, assoc.name, target.name, to_key, "none", run_id=run_id,
                                 from_id=ids[key])
                if assoc.remove_stale and before is not None and before.status == "made" and before.to_key != to_key:
                    to_remove.append(before)  # the foreign key moved: the link hubsync made goes
                if to_key is None:
                    if before is None or before.status != "none":
                        changed.append(link)
                    continue
                if before is not None and before.status == "made" and before.to_key == to_key \
                        and before.from_id == ids[key]:
                    continue  # HubSpot has it
                if to_key[0] == "!":
                    link.status, link.reason = "failed", (
                        f"foreign key {', '.join(assoc.columns)} = {to_key[1:]} does not fit the key of "
                        f"{assoc.to!r} ({', '.join(target.key)})")
                    changed.append(link)
                    continue
                st = targets.get(to_key)
                if st is not None and st.hubspot_id:
                    link.to_id = st.hubspot_id
                    to_make.append(link)
                    continue
                link.status = "pending"
                if st is not None and st.last_outcome == "rejected":
                    link.reason = f"{target.name} row {to_key} was rejected: {st.reason}"
                elif st is None and to_key not in in_sql:
                    link.reason = f"{assoc.to} has no row with key {to_key} in {target.table}"
                else:
                    link.reason = f"{assoc.to} row {to_key} has no HubSpot id yet"
                if before is None or (before.status, before.to_key, before.reason) != ("pending", to_key, link.reason):
                    changed.append(link)
                counts.pending += 1
        counts.unlinked += self._remove(obj, to_remove, existing)
        made = self._make(obj, to_make)
        counts.linked += sum(1 for link in made if link.status == "made")
        counts.failed += sum(1 for link in made if link.status == "failed")
        expected = {link.slot: existing.get((link.source_key, link.association)) for link in changed + made}
        for current in self.state.save_links(changed + made, expected):
            # a sweep made this row's waiting link while this batch decided it anew: a link for the
            # foreign key the row held before is one nobody wants now (unless it is the same link)
            mine = next(link for link in changed + made if link.slot == current.slot)
            if current.status == "made" and (current.from_id, current.to_id) != (mine.from_id, mine.to_id):
                self._unlink_stray(obj, current)
            self.state.save_links([mine])
        return counts

    def wanted(self, assoc: AssociationSpec, rows: dict[str, DeltaRow], keys: Iterable[str]) -> dict[str, str | None]:
        """The target's source key each row's foreign key names (None: NULL; ``!values``: values
        that do not fit the target's key columns)."""
        target = self.sources.get(self.config.object(assoc.to))
        wanted: dict[str, str | None] = {}
        for key in keys:
            row = rows[key].row or {}
            values = [row.get(c) for c in assoc.columns]
            if any(v is None for v in values):
                wanted[key] = None
                continue
            try:
                typed = target.typed_key(tuple(values))
            except MalformedMessage:
                typed = None
            wanted[key] = key_to_json(typed) if typed is not None else f"!{values!r}"
        return wanted

    def preview(self, obj: ObjectConfig, rows: dict[str, DeltaRow]) -> LinkCounts:
        """What ``link_rows`` would do with these rows (reads state only; ``hubsync plan``): links to
        make now, to remove, and to wait for a target that has no HubSpot id yet (it may get one
        in the same run)."""
        counts = LinkCounts()
        keys = sorted(k for k, r in rows.items() if r.row is not None and not r.error)
        if not obj.associations or not keys:
            return counts
        existing = self.state.links_of(obj.name, keys)
        for assoc in obj.associations:
            wanted = self.wanted(assoc, rows, keys)
            targets = self.state.get_records(assoc.to, sorted({v for v in wanted.values() if v and v[0] != "!"}))
            for key in keys:
                before, to_key = existing.get((key, assoc.name)), wanted[key]
                made = before is not None and before.status == "made"
                if assoc.remove_stale and made and before.to_key != to_key:  # type: ignore[union-attr]
                    counts.unlinked += 1
                if to_key is None or (made and before.to_key == to_key):  # type: ignore[union-attr]
                    continue
                if to_key[0] == "!":
                    counts.failed += 1
                elif (st := targets.get(to_key)) is not None and st.hubspot_id:
                    counts.linked += 1
                else:
                    counts.pending += 1
        return counts

    def link_targets(self, obj: ObjectConfig, run_id: str, ids: dict[str, str]) -> LinkCounts:
        """Rows of ``obj`` just got HubSpot ids: make the pending links that wait for them."""
        counts = LinkCounts()
        if not ids or not any(a.to == obj.name for o in self.config.objects for a in o.associations):
            return counts
        waiting = self.state.pending_to(obj.name, ids)
        expected = {link.slot: replace(link) for link in waiting}  # as read: saved only if still so
        for link in waiting:
            link.to_id = ids[link.to_key or ""]
            link.run_id = run_id
        return self._make_many(waiting, expected)

    def sweep(self, run_id: str | None = None) -> LinkCounts:
        """Make every pending link whose target has a HubSpot id by now."""
        counts = LinkCounts()
        names = [o.name for o in self.config.objects if o.associations]
        if not names:
            return counts
        # a target rejected after a linking batch looked it up (both ran at once): say so
        stale = [(link, f"{link.to_object} row {link.to_key} was rejected: {reason}")
                 for link, reason in self.state.pending_on_rejected(names)]
        stale = [(link, why) for link, why in stale if link.reason != why]
        expected = {link.slot: replace(link) for link, _ in stale}  # a row decided meanwhile keeps its decision
        self.state.save_links([_with_reason(link, why) for link, why in stale], expected)
        while True:
            ready = self.state.pending_ready(names)
            expected = {link.slot: replace(link, to_id=None) for link in ready}  # to_id: the target's, joined
            if not ready:
                return counts
            for link in ready:
                link.run_id = run_id or link.run_id
            made = self._make_many(ready, expected)
            counts.add(made)
            if made.linked + made.failed == 0:
                return counts

    # -- HubSpot --

    def _make_many(self, links: list[LinkState], expected: dict[tuple[str, str, str], LinkState | None]) -> LinkCounts:
        counts = LinkCounts()
        by_object: dict[str, list[LinkState]] = {}
        for link in links:
            by_object.setdefault(link.object_name, []).append(link)
        done: list[LinkState] = []
        for name, group in by_object.items():
            done += self._make(self.config.object(name), group)
        counts.linked = sum(1 for link in done if link.status == "made")
        counts.failed = sum(1 for link in done if link.status == "failed")
        for current in self.state.save_links(done, expected):
            # the row's own batch decided this link meanwhile (its foreign key moved): what this
            # sweep just made stands only if that batch wants the same link
            mine = next(link for link in done if link.slot == current.slot)
            if mine.status == "made" and not (current.status == "made"
                                              and (current.from_id, current.to_id) == (mine.from_id, mine.to_id)):
                self._unlink_stray(self.config.object(mine.object_name), mine)
        return counts

    def _unlink_stray(self, obj: ObjectConfig, link: LinkState) -> None:
        """Remove a link hubsync made that no row wants (two deciders raced; state holds the other)."""
        assoc = next((a for a in obj.associations if a.name == link.association), None)
        if assoc is None or not link.from_id or not link.to_id:
            return
        category, type_id = _parse_type(link.type_id) or self.type_of(obj, assoc)
        self.state.commit_held()
        self.writer.unlink(obj.object_type, self.config.object(assoc.to).object_type, [(link.from_id, link.to_id)],
                           category, type_id)
        log_event(log, logging.INFO, "stray_link_removed", object=obj.name, source_key=link.source_key,
                  association=link.association)

    def _make(self, obj: ObjectConfig, links: list[LinkState]) -> list[LinkState]:
        """Create the links (from_id and to_id known), grouped by association; returns them made
        or failed with HubSpot's reason."""
        by_assoc: dict[str, list[LinkState]] = {}
        for link in links:
            by_assoc.setdefault(link.association, []).append(link)
        specs = {a.name: a for a in obj.associations}
        out = []
        for name, group in by_assoc.items():
            assoc = specs.get(name)
            if assoc is None:  # the association was removed from the configuration
                continue
            category, type_id = self.type_of(obj, assoc)
            target = self.config.object(assoc.to)
            pairs = sorted({(link.from_id or "", link.to_id or "") for link in group})
            self.state.commit_held()  # never hold state open across a HubSpot call
            refused = self.writer.associate(obj.object_type, target.object_type, pairs, category, type_id)
            for link in group:
                reason = refused.get((link.from_id or "", link.to_id or ""))
                link.type_id = f"{category}:{type_id}"
                link.status, link.reason = ("failed", reason) if reason else ("made", None)
                if reason:
                    log_event(log, logging.WARNING, "association_failed", object=obj.name, source_key=link.source_key,
                              association=name, reason=reason)
            out += group
        return out

    def _remove(self, obj: ObjectConfig, stale: list[LinkState],
                existing: dict[tuple[str, str], LinkState]) -> int:
        """Remove links hubsync made whose foreign key changed (``remove_stale``). The removal is
        recorded at once, in its own commit: if what follows fails, state must not still say made
        (a key moving back would then find the link "made" and never make it again). ``existing``
        is updated to what state now holds; the rows' new links are saved by the caller."""
        specs = {a.name: a for a in obj.associations}
        removed = 0
        by_assoc: dict[str, list[LinkState]] = {}
        for link in stale:
            by_assoc.setdefault(link.association, []).append(link)
        for name, group in by_assoc.items():
            assoc = specs[name]
            category, type_id = _parse_type(group[0].type_id) or self.type_of(obj, assoc)
            pairs = sorted({(link.from_id or "", link.to_id or "") for link in group if link.from_id and link.to_id})
            if not pairs:
                continue
            self.state.commit_held()
            self.writer.unlink(obj.object_type, self.config.object(assoc.to).object_type, pairs, category, type_id)
            gone = [replace(link, status="removed", reason=None) for link in group]
            conflicts = self.state.save_links(gone, {link.slot: link for link in group})
            moved = {c.slot for c in conflicts}
            for link in gone:
                if link.slot not in moved:
                    existing[(link.source_key, link.association)] = link
            removed += len(pairs)
            log_event(log, logging.INFO, "associations_removed", object=obj.name, association=name, links=len(pairs))
        return removed


def _with_reason(link: LinkState, reason: str) -> LinkState:
    link.reason = reason
    return link


def _parse_type(text: str | None) -> tuple[str, int] | None:
    if not text or ":" not in text:
        return None
    category, _, number = text.rpartition(":")
    try:
        return category, int(number)
    except ValueError:
        return None


def _key(key_json: str) -> tuple[Any, ...]:
    from shared.keys import key_from_json

    key = key_from_json(key_json)
    return tuple(key or ())

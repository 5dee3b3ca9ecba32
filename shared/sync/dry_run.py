"""``hubsync plan``: what a run would do, writing nothing anywhere.

It reads the same delta a run would, maps and validates each row, compares it with what
HubSpot last accepted, and asks HubSpot (batch read, no writes) which records already exist,
to count creates vs updates and show a sample of per-field changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.config import ObjectConfig
from shared.keys import key_to_json
from shared.mapping.data_validator import PortalSchema
from shared.mapping.field_mapper import match_value
from shared.runtime import Runtime
from shared.sync import assessment
from shared.sync.assessment import BatchCounts, Candidate


@dataclass
class FieldChange:
    source_key: str
    action: str
    changes: dict[str, tuple[str | None, str]]


@dataclass
class ObjectPreview:
    name: str
    rows: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)  # created and updated: what a run would do
    samples: list[FieldChange] = field(default_factory=list)
    rejections: list[tuple[str, str]] = field(default_factory=list)


def preview(rt: Runtime, obj: ObjectConfig, schema: PortalSchema, sample: int = 5, full: bool = False,
            on_page: Callable[[int], None] | None = None) -> ObjectPreview:
    out = ObjectPreview(obj.name)
    source = rt.delta_source(obj)
    after = None if full else rt.state.get_position(obj.name)
    for page in source.iter_delta(after, rt.config.source.page_size, full_rows=True):
        out.rows += len(page)
        rows = {key_to_json(r.key): r for r in page}
        known = rt.state.get_records(obj.name, list(rows))
        settled, tally, candidates = assessment.assess(obj, schema, list(rows), rows, known)
        candidates = _drop_duplicates(rt, obj, schema, candidates, out)
        out.counts.unchanged += tally["unchanged"]
        out.counts.rejected += tally["rejected"]
        out.counts.missing += tally["missing"]
        for st in settled:
            if st.last_outcome == "rejected" and len(out.rejections) < max(sample, 20):  # the rest are counted
                out.rejections.append((st.source_key, st.reason or ""))
        for start in range(0, len(candidates), 100):
            _compare(rt, obj, candidates[start:start + 100], out, sample)
        if obj.associations:
            links = rt.linker().preview(obj, {k: r for k, r in rows.items() if k not in rejected(settled)})
            out.counts.linked += links.linked
            out.counts.unlinked += links.unlinked
            out.counts.link_pending += links.pending
            out.counts.link_failed += links.failed
        if on_page:
            on_page(len(page))
    return out


def rejected(settled: list) -> set[str]:  # type: ignore[type-arg]
    return {st.source_key for st in settled if st.last_outcome in ("rejected", "missing")}


def _drop_duplicates(rt: Runtime, obj: ObjectConfig, schema: PortalSchema, candidates: list[Candidate],
                     out: ObjectPreview) -> list[Candidate]:
    """As the worker does: two rows may not write one HubSpot record (read-only: nothing is claimed)."""
    props = assessment.unique_properties(obj, schema)
    recorded = rt.state.owners_of(obj.name, [c.norm_id for c in candidates])
    owners = {(obj.id_property, value): (obj.name, key) for value, key in recorded.items()}
    for prop in props:
        values = [v for c in candidates for p, v in assessment.slots_of(obj, props, c) if p == prop]
        held = rt.state.holders(obj.object_type, prop, values)
        owners.update({(prop, value): (cl.object_name, cl.source_key) for value, cl in held.items()})
    kept, duplicates = assessment.pick_owners(obj, props, candidates, owners)
    out.counts.rejected += len(duplicates)
    out.rejections.extend((c.source_key, reason) for c, reason in duplicates[: max(0, 20 - len(out.rejections))])
    return kept


def _compare(rt: Runtime, obj: ObjectConfig, chunk: list[Candidate], out: ObjectPreview, sample: int) -> None:
    """Read (never write) what HubSpot holds for the chunk: records this sync made are updates;
    a record it did not make that holds the row's id property (or a contact's email) would be
    adopted, or, with ``on_existing: reject``, refused."""
    props = list(obj.fields)
    by_id = [c for c in chunk if c.hubspot_id]
    current: dict[str, dict] = {}
    if by_id:
        found = rt.writer.read(obj.object_type, [c.hubspot_id or "" for c in by_id], props)
        current.update({c.source_key: found[c.hubspot_id or ""] for c in by_id if c.hubspot_id in found})
    existing: dict[str, dict] = {}
    match_on = [obj.id_property] + (["email"] if obj.object_type == "contacts" and "email" in obj.fields
                                    and obj.id_property != "email" else [])
    for prop in match_on:
        todo = [c for c in chunk if not c.hubspot_id and c.source_key not in existing and c.mapped.properties.get(prop)]
        if not todo:
            continue
        found = rt.writer.read(obj.object_type, [c.mapped.properties[prop] for c in todo], props, prop)
        for c in todo:
            hit = found.get(match_value(obj.object_type, prop, c.mapped.properties[prop]))
            if hit:
                existing[c.source_key] = hit
    for c in chunk:
        before = current.get(c.source_key) or existing.get(c.source_key)
        if c.source_key in existing and obj.on_existing == "reject":
            out.counts.rejected += 1
            out.rejections.append((c.source_key, f"a HubSpot record (id {before['id']}) already holds its "  # type: ignore[index]
                                                 "unique value and on_existing is reject"))
            continue
        action = "update" if c.source_key in current else "adopt" if before else "create"
        out.counts.updated += action == "update"
        out.counts.adopted += action == "adopt"
        out.counts.created += action == "create"
        if len(out.samples) < sample:
            old = (before or {}).get("properties", {})
            changes = {
                name: (old.get(name), value) for name, value in c.mapped.properties.items()
                if (old.get(name) or "") != value
            }
            out.samples.append(FieldChange(c.source_key, action, changes))

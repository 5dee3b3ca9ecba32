"""What each key of a batch needs, decided without I/O: missing, rejected, unchanged, or a write.

The worker and the dry run (``hubsync plan``) share these rules, so a plan shows exactly what
a run would do: the same mapping, validation, hash skip and duplicate-claim rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from shared.config import ObjectConfig
from shared.errors import RecordRejected
from shared.keys import key_from_json
from shared.mapping.data_validator import PortalSchema
from shared.mapping.field_mapper import MappedRecord, map_row, mapping_fingerprint, match_value, source_hash
from shared.source.delta import DeltaRow
from shared.state import RecordState


@dataclass
class BatchCounts:
    """What a batch (or a dry run of a delta) did with its rows, and the HubSpot calls it made."""

    created: int = 0
    updated: int = 0
    adopted: int = 0  # matched a HubSpot record this sync had not made (a form, an import, a person)
    unchanged: int = 0
    rejected: int = 0
    failed: int = 0
    missing: int = 0
    api_calls: int = 0
    linked: int = 0  # associations made
    unlinked: int = 0  # associations hubsync had made, removed (remove_stale)
    link_pending: int = 0  # rows whose link waits for its target's HubSpot id
    link_failed: int = 0  # links HubSpot refused

    def add(self, other: BatchCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Candidate:
    """A row that needs a write: its mapped payload and the HubSpot id it is known by, if any."""

    source_key: str
    mapped: MappedRecord
    hubspot_id: str | None
    norm_id: str
    source_hash: str | None = None  # the row's values under this mapping (field_mapper.source_hash)


def normalise_id_value(obj: ObjectConfig, value: str) -> str:
    return match_value(obj.object_type, obj.id_property, value)


def assess(
    obj: ObjectConfig,
    schema: PortalSchema,
    key_jsons: list[str],
    rows: dict[str, DeltaRow],
    known: dict[str, RecordState],
) -> tuple[list[RecordState], dict[str, int], list[Candidate]]:
    """Decide, without I/O, what each key needs: missing, rejected, unchanged, or a write."""
    types = schema.types()
    fingerprint = mapping_fingerprint(obj, types, schema.pipelines)
    settled: list[RecordState] = []
    tally = {"rejected": 0, "unchanged": 0, "missing": 0}
    candidates: list[Candidate] = []
    for kj in key_jsons:
        row = rows.get(kj)
        st = known.get(kj)
        if row is None:
            settled.append(RecordState(kj, None, None, None, None, "missing",
                                       "row no longer in the source (deletes are not synced yet)"))
            tally["missing"] += 1
            continue
        if row.error:
            settled.append(RecordState(kj, None, None, None, None, "rejected", row.error, seen_version=row.version))
            tally["rejected"] += 1
            continue
        if st and st.hubspot_id and st.source_version and st.source_version > row.version:
            # HubSpot already holds a newer version: never write an older one
            settled.append(RecordState(kj, st.hubspot_id, st.id_value, st.payload_hash, st.source_version,
                                       "unchanged", seen_version=row.version, source_hash=st.source_hash))
            tally["unchanged"] += 1
            continue
        try:
            mapped = map_row(row.row or {}, obj, row.version, types, schema.pipelines)
            problems = schema.validate(mapped.properties)
            problems += [f"{prop}: a unique value of {len(value)} characters; hubsync keeps at most {MAX_MATCH_VALUE}"
                         for prop in unique_properties(obj, schema)
                         if len(value := mapped.properties.get(prop) or "") > MAX_MATCH_VALUE]
            if problems:
                raise RecordRejected("; ".join(problems))
        except RecordRejected as err:
            settled.append(RecordState(kj, None, None, None, None, "rejected", err.reason, seen_version=row.version))
            tally["rejected"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - one odd row must not take its batch down
            reason = f"cannot map the row: {type(err).__name__}: {str(err)[:300]}"
            settled.append(RecordState(kj, None, None, None, None, "rejected", reason, seen_version=row.version))
            tally["rejected"] += 1
            continue
        hashed = source_hash(fingerprint, row.row or {})
        if st and st.hubspot_id and st.payload_hash == mapped.payload_hash:
            settled.append(RecordState(kj, st.hubspot_id, st.id_value, st.payload_hash, row.version, "unchanged",
                                       seen_version=row.version, source_hash=hashed))
            tally["unchanged"] += 1
            continue
        candidates.append(Candidate(kj, mapped, st.hubspot_id if st else None,
                                     normalise_id_value(obj, mapped.id_value), hashed))
    return settled, tally, candidates


Slot = tuple[str, str]  # (unique property, its value as HubSpot compares it)
MAX_MATCH_VALUE = 450  # the claims and records tables' value columns
Owner = tuple[str, str]  # (object name, source key)


def unique_properties(obj: ObjectConfig, schema: PortalSchema) -> list[str]:
    """The mapped properties HubSpot keeps unique: the id property, a contact's email, and any
    the portal marks unique. Two source rows may not share a value of any of them."""
    props = [obj.id_property]
    for name in obj.fields:
        definition = schema.properties.get(name)
        is_email = name == "email" and obj.object_type == "contacts"
        if name != obj.id_property and (is_email or (definition is not None and definition.unique)):
            props.append(name)
    return props


def slots_of(obj: ObjectConfig, props: list[str], c: Candidate) -> list[Slot]:
    return [(p, match_value(obj.object_type, p, c.mapped.properties[p])) for p in props if c.mapped.properties.get(p)]


def key_order(source_key: str) -> tuple[Any, ...]:
    """Sorts source keys as their values sort (numbers numerically), for "the lowest key wins"."""
    key = key_from_json(source_key)
    if key is None:
        return ((2, source_key),)
    return tuple((0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v)) for v in key)


def describe_owner(obj: ObjectConfig, owner: Owner) -> str:
    name, key = owner
    return f"source key {key}" if name == obj.name else f"object {name!r}, source key {key}"


def pick_owners(obj: ObjectConfig, props: list[str], candidates: list[Candidate],
                owners: Mapping[Slot, Owner]) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Two source rows may not write one HubSpot record (it would flip between them). A unique
    value belongs to the row that holds it already (``owners``), else to the lowest key (or the
    highest, as ``duplicate_owner`` says) among the rows sharing it here; every other row is rejected, naming the owner."""
    taken: dict[Slot, Owner] = dict(owners)
    kept, duplicates = [], []
    for c in sorted(candidates, key=lambda c: key_order(c.source_key), reverse=obj.duplicate_owner == "highest_key"):
        me = (obj.name, c.source_key)
        slots = slots_of(obj, props, c)
        clash = next(((slot, taken[slot]) for slot in slots if taken.get(slot, me) != me), None)
        if clash is not None:
            (prop, value), owner = clash
            duplicates.append((c, f"{prop} {c.mapped.properties[prop]!r} is already synced from "
                                  f"{describe_owner(obj, owner)}; each HubSpot record can have only one source row "
                                  f"(the row that synced it first keeps it, else the {obj.duplicate_owner.replace('_', ' ')})"))
            continue
        taken.update((slot, me) for slot in slots)
        kept.append(c)
    order = {id(c): i for i, c in enumerate(candidates)}
    return sorted(kept, key=lambda c: order[id(c)]), duplicates

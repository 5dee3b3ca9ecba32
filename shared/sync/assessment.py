"""What each key of a batch needs, decided without I/O: missing, rejected, unchanged, or a write.

The worker and the dry run (``hubsync plan``) share these rules, so a plan shows exactly what
a run would do: the same mapping, validation, hash skip and duplicate-claim rule.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from shared.config import ObjectConfig
from shared.errors import RecordRejected
from shared.mapping.data_validator import PortalSchema
from shared.mapping.field_mapper import MappedRecord, map_row
from shared.source.delta import DeltaRow
from shared.state import RecordState


@dataclass
class BatchCounts:
    """What a batch (or a dry run of a delta) did with its rows, and the HubSpot calls it made."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    failed: int = 0
    missing: int = 0
    api_calls: int = 0

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


def normalise_id_value(obj: ObjectConfig, value: str) -> str:
    return value.lower() if obj.id_property == "email" else value


def assess(
    obj: ObjectConfig,
    schema: PortalSchema,
    key_jsons: list[str],
    rows: dict[str, DeltaRow],
    known: dict[str, RecordState],
) -> tuple[list[RecordState], dict[str, int], list[Candidate]]:
    """Decide, without I/O, what each key needs: missing, rejected, unchanged, or a write."""
    types = schema.types()
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
            settled.append(RecordState(kj, None, None, None, None, "rejected", row.error))
            tally["rejected"] += 1
            continue
        if st and st.hubspot_id and st.source_version and st.source_version > row.version:
            # HubSpot already holds a newer version: never write an older one
            settled.append(RecordState(kj, st.hubspot_id, st.id_value, st.payload_hash, st.source_version,
                                       "unchanged"))
            tally["unchanged"] += 1
            continue
        try:
            mapped = map_row(row.row or {}, obj, row.version, types)
            problems = schema.validate(mapped.properties)
            if problems:
                raise RecordRejected("; ".join(problems))
        except RecordRejected as err:
            settled.append(RecordState(kj, None, None, None, None, "rejected", err.reason))
            tally["rejected"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - one odd row must not take its batch down
            reason = f"cannot map the row: {type(err).__name__}: {str(err)[:300]}"
            settled.append(RecordState(kj, None, None, None, None, "rejected", reason))
            tally["rejected"] += 1
            continue
        if st and st.hubspot_id and st.payload_hash == mapped.payload_hash:
            settled.append(RecordState(kj, st.hubspot_id, st.id_value, st.payload_hash, row.version, "unchanged"))
            tally["unchanged"] += 1
            continue
        candidates.append(Candidate(kj, mapped, st.hubspot_id if st else None,
                                     normalise_id_value(obj, mapped.id_value)))
    return settled, tally, candidates


def split_duplicates(obj: ObjectConfig, candidates: list[Candidate],
                     owners: dict[str, str]) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Two source rows may not claim one HubSpot record (it would flip between them): keep the
    first claim, in this batch or already recorded (``owners``: id value -> source key)."""
    seen: dict[str, str] = {}
    kept, duplicates = [], []
    for c in candidates:
        other = seen.get(c.norm_id) or owners.get(c.norm_id)
        if other is not None and other != c.source_key:
            duplicates.append((c, f"{obj.id_property} {c.mapped.id_value!r} is already synced from source key "
                                  f"{other}; each HubSpot record can have only one source row"))
            continue
        seen[c.norm_id] = c.source_key
        kept.append(c)
    return kept, duplicates

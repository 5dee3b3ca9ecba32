"""SQL row -> HubSpot properties. Pure code, no I/O.

``map_row`` applies each field's transforms, turns values into HubSpot's wire strings
(using the property's type when the portal schema is known), enforces required fields and
returns the properties with a stable hash of them. Every problem of a row is collected, so
the recorded reason names all the fields to fix at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import ObjectConfig
from shared.errors import RecordRejected
from shared.mapping.pipelines import Pipelines, resolve
from shared.mapping.transforms import apply_transforms, to_hubspot_string


@dataclass(frozen=True)
class MappedRecord:
    """A row ready for HubSpot: its source key, properties and their hash."""

    key: tuple[Any, ...]
    version: str
    properties: dict[str, str]
    id_value: str
    payload_hash: str


def match_value(object_type: str, prop: str, value: str) -> str:
    """A unique value as HubSpot compares it: a contact's email case-insensitively, everything else
    exactly (a unique property named ``email`` on companies, deals or a custom object too)."""
    return value.lower() if prop == "email" and object_type == "contacts" else value


def payload_hash(properties: Mapping[str, str]) -> str:
    """A stable hash of a payload: the same properties always give the same hash."""
    canonical = json.dumps(dict(sorted(properties.items())), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def mapping_fingerprint(obj: ObjectConfig, prop_types: Mapping[str, str] | None,
                        pipelines: Pipelines | None = None) -> bytes:
    """What a row's payload depends on besides its values: the object's mapping, the portal's
    types of its properties and, for deals and tickets, its pipelines. A change to any of them
    makes every row's ``source_hash`` new."""
    types = prop_types or {}
    spec = obj.model_dump(mode="json", include={"object_type", "key", "id_property", "fields", "null_values",
                                                "phone_region"})
    spec["types"] = {prop: types.get(prop) for prop in sorted(obj.fields)}
    if obj.pipeline_map or obj.stage_map:  # only when set: other objects' fingerprints stay as they were
        spec["maps"] = [obj.pipeline_map, obj.stage_map]
    if pipelines is not None:
        spec["pipelines"] = pipelines.fingerprint()
    return json.dumps(spec, sort_keys=True, separators=(",", ":")).encode("utf-8")


def source_hash(fingerprint: bytes, row: Mapping[str, Any]) -> str:
    """A stable hash of a source row's values under one mapping (``mapping_fingerprint``): equal
    hashes mean the row maps to the same payload, so a full re-read can skip it unmapped."""
    values = json.dumps([[name, row[name]] for name in sorted(row)], ensure_ascii=False, default=repr,
                        separators=(",", ":"))
    return hashlib.sha256(fingerprint + values.encode("utf-8")).hexdigest()


def _source(spec: Any) -> str:
    return f" (column {spec.column})" if spec.column else ""


def map_row(
    row: Mapping[str, Any],
    obj: ObjectConfig,
    version: str,
    prop_types: Mapping[str, str] | None = None,
    pipelines: Pipelines | None = None,
) -> MappedRecord:
    """Map one source row; raise ``RecordRejected`` listing every field that cannot be mapped.

    With the portal's ``pipelines`` (deals, tickets), the pipeline and stage values become
    HubSpot's ids (``shared.mapping.pipelines``); one that names nothing rejects the row."""
    prop_types = prop_types or {}
    properties: dict[str, str] = {}
    problems: list[str] = []
    for prop, spec in obj.fields.items():
        raw = spec.constant if spec.constant is not None else row.get(spec.column)  # type: ignore[arg-type]
        try:
            value = apply_transforms(raw, spec.transforms, obj.phone_region)
            if value is None or value == "":
                if spec.required or prop == obj.id_property:
                    source = f"column {spec.column}" if spec.column else "constant"
                    problems.append(f"{prop}: required value is empty ({source})")
                elif value == "" or obj.null_values == "clear":
                    properties[prop] = ""
                continue
            properties[prop] = to_hubspot_string(value, prop_types.get(prop))
        except RecordRejected as err:
            problems.append(f"{prop}{_source(spec)}: {err.reason}")
        except (ValueError, TypeError, ArithmeticError) as err:  # a value no transform foresaw
            problems.append(f"{prop}{_source(spec)}: cannot convert the value ({type(err).__name__}: {err})")
    if pipelines is not None:
        problems += resolve(obj, pipelines, properties)
    if problems:
        raise RecordRejected("; ".join(problems))
    key = tuple(row[c] for c in obj.key)
    return MappedRecord(
        key=key,
        version=version,
        properties=properties,
        id_value=properties[obj.id_property],
        payload_hash=payload_hash(properties),
    )

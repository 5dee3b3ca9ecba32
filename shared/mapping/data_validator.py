"""Validation of mapped properties against the portal's live property definitions. Pure code.

HubSpot fails a whole batch when one input is invalid, so every check HubSpot makes that can
be made here is made here: the bad row is rejected with its reason and the rest of its batch
goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.mapping.pipelines import Pipelines
from shared.mapping.transforms import MAX_STRING_LENGTH

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class PropertyDef:
    """What hubsync needs to know of one HubSpot property definition."""

    name: str
    type: str
    field_type: str = "text"
    options: frozenset[str] = field(default_factory=frozenset)
    read_only: bool = False
    unique: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PropertyDef:
        meta = data.get("modificationMetadata") or {}
        return cls(
            name=data["name"],
            type=data.get("type", "string"),
            field_type=data.get("fieldType", "text"),
            options=frozenset(str(o["value"]) for o in data.get("options") or [] if "value" in o),
            read_only=bool(meta.get("readOnlyValue")) or bool(data.get("calculated")),
            unique=bool(data.get("hasUniqueValue")),
        )


    @classmethod
    def from_sdk(cls, prop: Any) -> PropertyDef:
        meta = getattr(prop, "modification_metadata", None)
        return cls(
            name=prop.name,
            type=prop.type or "string",
            field_type=prop.field_type or "text",
            options=frozenset(str(o.value) for o in prop.options or []),
            read_only=bool(getattr(meta, "read_only_value", False)) or bool(prop.calculated),
            unique=bool(prop.has_unique_value),
        )


class PortalSchema:
    """The property definitions of one object type, fetched once per run, and its pipelines
    (deals and tickets)."""

    def __init__(self, object_type: str, definitions: Iterable[PropertyDef], pipelines: Pipelines | None = None) -> None:
        self.object_type = object_type
        self.properties = {d.name: d for d in definitions}
        self.pipelines = pipelines

    def types(self) -> dict[str, str]:
        return {name: d.type for name, d in self.properties.items()}

    def check_mapping(self, props: Iterable[str], id_property: str) -> list[str]:
        """Problems with the configuration itself (unknown or read-only targets, a bad idProperty)."""
        problems = []
        for prop in props:
            definition = self.properties.get(prop)
            if definition is None:
                problems.append(f"property {prop!r} does not exist on {self.object_type}")
            elif definition.read_only:
                problems.append(f"property {prop!r} of {self.object_type} is read-only")
        id_def = self.properties.get(id_property)
        allowed = id_def is not None and (id_def.unique or (id_property == "email" and self.object_type == "contacts"))
        if id_def is not None and not allowed:
            problems.append(
                f"id_property {id_property!r} is not a unique property of {self.object_type} "
                "(use 'email' for contacts or a property with hasUniqueValue)"
            )
        return problems

    def validate(self, properties: Mapping[str, str]) -> list[str]:
        """Every reason HubSpot would refuse these values; empty when they are fine."""
        problems = []
        for name, value in properties.items():
            definition = self.properties.get(name)
            if definition is None:
                problems.append(f"{name}: property does not exist on {self.object_type} (PROPERTY_DOESNT_EXIST)")
                continue
            if definition.read_only:
                problems.append(f"{name}: property is read-only (READ_ONLY_VALUE)")
                continue
            if value == "":
                continue  # clears the value
            problem = _check_value(definition, value)
            if problem:
                problems.append(f"{name}: {problem}")
        return problems


def _check_value(definition: PropertyDef, value: str) -> str | None:
    if len(value) > MAX_STRING_LENGTH:
        return f"value has {len(value)} characters, more than HubSpot's {MAX_STRING_LENGTH}"
    kind = definition.type
    if kind == "enumeration" or (kind == "bool" and definition.options):
        values = [v for v in value.split(";") if v] if definition.field_type == "checkbox" else [value]
        bad = [v for v in values if v not in definition.options]
        if bad:
            allowed = ", ".join(sorted(definition.options)[:20])
            return f"{bad[0]!r} is not an option (INVALID_OPTION); allowed: {allowed}"
        return None
    if kind == "bool":
        return None if value in ("true", "false") else f"{value!r} is not true/false (INVALID_OPTION)"
    if kind == "number":
        return None if _NUMBER.match(value) else f"{value!r} is not a number (INVALID_INTEGER)"
    if kind == "date":
        return None if _is_date(value) else f"{value!r} is not a YYYY-MM-DD date (INVALID_DATE)"
    if kind == "datetime":
        return None if _is_datetime(value) else f"{value!r} is not an ISO 8601 datetime (INVALID_DATE)"
    if definition.name == "email" or definition.field_type == "email":
        return None if _EMAIL.match(value) else f"{value!r} is not a valid email (INVALID_EMAIL)"
    return None


def _is_date(value: str) -> bool:
    if value.isdigit():
        return int(value) % 86_400_000 == 0
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_datetime(value: str) -> bool:
    if value.isdigit():
        return True
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True

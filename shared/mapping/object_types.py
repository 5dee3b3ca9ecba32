"""HubSpot object types a sync may target, and the names of custom objects. Pure code, no I/O.

``object_type`` in the configuration is ``contacts``, ``companies``, ``deals``, ``tickets`` or a
custom object named by its fully qualified name (``p<portalId>_<name>``), its short name
``p_<name>`` or its objectTypeId (``2-<n>``). HubSpot's object endpoints accept the objectTypeId
and the fully qualified name; a short name is resolved through ``GET /crm/v3/schemas`` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STANDARD_TYPES = ("contacts", "companies", "deals", "tickets")
# (pipeline property, stage property) of the object types that have pipelines; both take internal ids
PIPELINE_PROPERTIES = {"deals": ("pipeline", "dealstage"), "tickets": ("hs_pipeline", "hs_pipeline_stage")}

_FQN = re.compile(r"^p(\d+)_([A-Za-z][A-Za-z0-9_]*)$")
_SHORT = re.compile(r"^p_([A-Za-z][A-Za-z0-9_]*)$")
_TYPE_ID = re.compile(r"^2-\d+$")


def is_custom(object_type: str) -> bool:
    """Whether ``object_type`` is written as a custom object's name (not whether the portal has it)."""
    return bool(_FQN.match(object_type) or _SHORT.match(object_type) or _TYPE_ID.match(object_type))


def check_object_type(value: str) -> str:
    """The configured object type, or ``ValueError`` saying which names are accepted."""
    if value in STANDARD_TYPES or is_custom(value):
        return value
    hint = ""
    if value.lower() in STANDARD_TYPES or value.lower() + "s" in STANDARD_TYPES:
        hint = f" (did you mean {value.lower().rstrip('s') + 's'!r}?)"
    raise ValueError(f"unknown object type {value!r}{hint}: use contacts, companies, deals, tickets or a custom "
                     "object's fully qualified name p<portalId>_<name>, its short name p_<name> or its "
                     "objectTypeId 2-<n>")


@dataclass(frozen=True)
class CustomObject:
    """One custom object of the portal, as ``GET /crm/v3/schemas`` lists it."""

    object_type_id: str  # 2-<n>
    fully_qualified_name: str  # p<portalId>_<name>
    name: str
    required: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CustomObject:
        return cls(str(data.get("objectTypeId") or ""), str(data.get("fullyQualifiedName") or ""),
                   str(data.get("name") or ""), tuple(data.get("requiredProperties") or ()))

    @property
    def names(self) -> tuple[str, str, str]:
        return self.fully_qualified_name, f"p_{self.name}", self.object_type_id

    def describe(self) -> str:
        return f"{self.fully_qualified_name} (p_{self.name}, {self.object_type_id})"


def find_custom(object_type: str, portal: Iterable[CustomObject]) -> CustomObject | None:
    """The custom object ``object_type`` names (any of its three names), or None."""
    return next((c for c in portal if object_type in c.names), None)


def unknown_custom(object_type: str, portal: Iterable[CustomObject]) -> str:
    """Why ``object_type`` names no custom object of the portal, listing the ones it has."""
    portal = list(portal)
    have = "; ".join(c.describe() for c in portal) or "none"
    hint = ""
    match = _FQN.match(object_type)
    same_name = [c for c in portal if match and c.name == match.group(2)]
    if same_name:
        hint = f" (did you mean {same_name[0].fully_qualified_name!r}? the portal id differs)"
    return (f"HubSpot has no custom object {object_type!r}{hint}; the portal's custom objects: {have} "
            "(a custom object needs the crm.schemas.custom.read scope to be listed)")

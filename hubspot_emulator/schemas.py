"""Custom object schemas: their names and ids, and the ``ObjectSchema`` wire format.

A custom object ``cars`` of portal 12345678 is known by three names, all accepted in
``{objectType}``: its objectTypeId ``2-<n>``, its fully qualified name ``p12345678_cars`` and
``p_cars``. The store keys everything of the object (definitions, records) by ``p_cars``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

DEFAULT_PORTAL_ID = 12345678
CUSTOM_PREFIX = "p_"

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def schema_key(name: str) -> str:
    """The store's key of the custom object ``name``: ``p_<name>``."""
    return CUSTOM_PREFIX + name


def name_of_key(key: str) -> str | None:
    """``cars`` for ``p_cars``; None when ``key`` is not a custom object's key."""
    if key.startswith(CUSTOM_PREFIX) and _NAME_RE.match(key[len(CUSTOM_PREFIX):]):
        return key[len(CUSTOM_PREFIX):]
    return None


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"a custom object name starts with a letter and has only letters, digits and underscores, not {name!r}"
        )
    return name


def object_type_id(schema: dict[str, Any]) -> str:
    return f"2-{schema['id']}"


def fully_qualified_name(schema: dict[str, Any], portal_id: int) -> str:
    return f"p{portal_id}_{schema['name']}"


def make_schema(
    name: str,
    number: int,
    *,
    labels: dict[str, str] | None,
    required: list[str],
    primary_display: str,
    searchable: list[str],
    secondary: list[str],
    description: str | None,
    created: str,
) -> dict[str, Any]:
    """What the store keeps of a schema (the names derived from ``id`` and the portal are not kept)."""
    labels = dict(labels or {})
    schema: dict[str, Any] = {
        "id": str(number),
        "name": name,
        "labels": {"singular": labels.get("singular") or name, "plural": labels.get("plural") or name},
        "requiredProperties": list(required),
        "searchableProperties": list(searchable),
        "secondaryDisplayProperties": list(secondary),
        "primaryDisplayProperty": primary_display,
        "archived": False,
        "createdAt": created,
        "updatedAt": created,
    }
    if description:
        schema["description"] = description
    return schema


def schema_view(
    schema: dict[str, Any],
    portal_id: int,
    properties: list[dict[str, Any]],
    associations: list[dict[str, Any]],
) -> dict[str, Any]:
    """The schema as ``GET /crm/v3/schemas/{objectType}`` answers it (the SDK's ``ObjectSchema``)."""
    view = copy.deepcopy(schema)
    view["objectTypeId"] = object_type_id(schema)
    view["fullyQualifiedName"] = fully_qualified_name(schema, portal_id)
    view["properties"] = copy.deepcopy(properties)
    view["associations"] = copy.deepcopy(associations)
    return view

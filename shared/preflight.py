"""Checks before anything is sent: source, tables and columns, state tables, the live
HubSpot schema. Every problem is collected and reported at once."""

from __future__ import annotations

from collections.abc import Sequence

from shared.config import ObjectConfig
from shared.data_validator import PortalSchema
from shared.errors import AuthenticationError, ConfigurationError, SourceError
from shared.runtime import Runtime


def selected(rt: Runtime, names: Sequence[str] | None) -> list[ObjectConfig]:
    if names:
        unknown = [n for n in names if n not in {o.name for o in rt.config.objects}]
        if unknown:
            raise ConfigurationError(f"--object: no object named {', '.join(map(repr, unknown))} in the configuration")
    return [o for o in rt.config.objects if o.enabled and (not names or o.name in names)]


def preflight(rt: Runtime, objects: Sequence[ObjectConfig], require_state: bool = True) -> dict[str, PortalSchema]:
    """Return the portal schema of each object type; raise ConfigurationError listing every problem."""
    problems: list[str] = []
    rt.check_source()  # unreachable database: nothing else can be checked
    for obj in objects:
        try:
            rt.source_table(obj)
        except SourceError as err:
            problems.append(str(err))
    if require_state:
        try:
            rt.state.check()
        except ConfigurationError as err:
            problems.append(str(err))
    schemas: dict[str, PortalSchema] = {}
    for obj in objects:
        index = rt.config.objects.index(obj)
        if obj.object_type not in schemas:
            try:
                schemas[obj.object_type] = rt.schemas.get(obj.object_type)
            except AuthenticationError:
                raise
            except ConfigurationError as err:
                problems.append(f"objects[{index}].object_type: {err}")
                continue
        for problem in schemas[obj.object_type].check_mapping(obj.fields, obj.id_property):
            problems.append(f"objects[{index}].fields: {problem}")
    if problems:
        raise ConfigurationError(
            f"{len(problems)} problem(s) found:\n  " + "\n  ".join(problems), problems
        )
    return schemas

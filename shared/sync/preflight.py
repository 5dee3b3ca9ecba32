"""Checks before anything is sent: source, tables and columns, state tables, the live
HubSpot schema (custom objects, properties, pipelines). Every problem is collected and
reported at once."""

from __future__ import annotations

from collections.abc import Sequence

from shared.config import ObjectConfig
from shared.errors import ConfigurationError, SourceError, UnknownObjectType
from shared.mapping import pipelines
from shared.mapping.data_validator import PortalSchema
from shared.mapping.object_types import PIPELINE_PROPERTIES, find_custom, is_custom, unknown_custom
from shared.runtime import Runtime
from shared.sync.planner import position_problem


def check_fields(schema: PortalSchema, obj: ObjectConfig) -> list[str]:
    """Mapping problems found without reading a row: unknown or read-only targets, a non-unique
    id_property, constants and value-map outputs HubSpot would refuse for every row; for deals and
    tickets, pipeline and stage settings that name no pipeline or stage of the portal."""
    import difflib

    problems = []
    for prop in obj.fields:
        definition = schema.properties.get(prop)
        if definition is None:
            near = difflib.get_close_matches(prop, list(schema.properties), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(f"fields.{prop}: property {prop!r} does not exist on {schema.object_type}{hint}")
        elif definition.read_only:
            problems.append(f"fields.{prop}: property {prop!r} of {schema.object_type} is read-only")
    problems += [f"id_property: {p}" for p in schema.check_mapping([], obj.id_property)]
    resolved = PIPELINE_PROPERTIES.get(obj.object_type, ()) if schema.pipelines is not None else ()
    if schema.pipelines is not None:  # labels and codes become ids row by row: checked against the pipelines
        problems += pipelines.config_problems(obj, schema.pipelines)
    for prop, spec in obj.fields.items():
        if prop not in schema.properties or schema.properties[prop].read_only or prop in resolved:
            continue
        fixed = [spec.constant] if spec.constant is not None else []
        fixed += [v for t in spec.transforms if t.name == "map" for v in t.arg["values"].values() if v is not None]
        fixed += [t.arg["default"] for t in spec.transforms if t.name == "map" and t.arg.get("default") is not None]
        for value in fixed:
            for problem in schema.validate({prop: str(value)}):
                where = "constant" if spec.constant is not None else "transform"
                problems.append(f"fields.{prop}.{where}: {problem.split(': ', 1)[-1]}")
    return problems


def custom_object_problem(rt: Runtime, obj: ObjectConfig) -> str | None:
    """A custom object the portal does not have (under any of its names), or required properties
    of it that the object does not map (creating a record without them fails)."""
    portal = rt.writer.custom_objects()
    found = find_custom(obj.object_type, portal)
    if found is None:
        return f"object_type: {unknown_custom(obj.object_type, portal)}"
    missing = [p for p in found.required if p not in obj.fields]
    if missing:
        return (f"fields: {obj.object_type} requires {', '.join(missing)} (requiredProperties of its schema); map "
                "them, or HubSpot refuses to create its records")
    return None


def selected(rt: Runtime, names: Sequence[str] | None) -> list[ObjectConfig]:
    if names:
        unknown = [n for n in names if n not in {o.name for o in rt.config.objects}]
        if unknown:
            raise ConfigurationError(f"--object: no object named {', '.join(map(repr, unknown))} in the configuration")
    return [o for o in rt.config.objects if o.enabled and (not names or o.name in names)]


def preflight(rt: Runtime, objects: Sequence[ObjectConfig], require_state: bool = True,
              hint: str = "hubsync init-db") -> dict[str, PortalSchema]:
    """Return the portal schema of each object type; raise ConfigurationError listing every problem."""
    problems: list[str] = []
    rt.check_source()  # unreachable database: nothing else can be checked
    for obj in objects:
        try:
            rt.delta_source(obj)
        except SourceError as err:
            problems.append(str(err))
    if require_state:
        try:
            rt.state.check(hint=hint)
        except ConfigurationError as err:
            problems.append(str(err))
        else:
            for obj in objects:
                problems += [p for p in [position_problem(obj, rt.state.get_position(obj.name))] if p]
    schemas: dict[str, PortalSchema] = {}
    rt.writer  # noqa: B018 - a missing token is reported here, on its own
    for obj in objects:
        index = rt.config.objects.index(obj)
        if is_custom(obj.object_type):
            problem = custom_object_problem(rt, obj)
            if problem:
                problems.append(f"objects[{index}].{problem}")
                if problem.startswith("object_type"):
                    continue
        if obj.object_type not in schemas:
            try:
                schemas[obj.object_type] = rt.schemas.get(obj.object_type)
            except UnknownObjectType as err:
                problems.append(f"objects[{index}].object_type: {err}")
                continue
        problems += [f"objects[{index}].{p}" for p in check_fields(schemas[obj.object_type], obj)]
    if any(o.associations for o in objects) and not problems:
        # every declared association type (a label the portal lacks, a pair with no default) is named here
        problems += rt.linker().check(objects)
    if problems:
        raise ConfigurationError(
            f"{len(problems)} problem(s) found:\n  " + "\n  ".join(problems), problems
        )
    return schemas

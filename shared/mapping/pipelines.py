"""Deal and ticket pipelines: a row's pipeline and stage values resolved to HubSpot's ids. Pure code.

HubSpot takes internal ids in ``pipeline``/``dealstage`` (``hs_pipeline``/``hs_pipeline_stage``
for tickets); SQL tends to hold labels ("Sales Pipeline", "Closed Won") or codes of its own. A
value is first looked up in the object's ``pipeline_map``/``stage_map`` (the source's codes),
then taken as an id, then as a label (case-insensitively). A stage is looked up only in the
row's pipeline: "Closed Won" is a stage of every deal pipeline, with another id in each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import ObjectConfig
from shared.mapping.object_types import PIPELINE_PROPERTIES


@dataclass(frozen=True)
class Stage:
    id: str
    label: str

    def describe(self) -> str:
        return f"{self.id} ({self.label})"


@dataclass(frozen=True)
class Pipeline:
    id: str
    label: str
    stages: tuple[Stage, ...]

    def describe(self) -> str:
        return f"{self.id!r} ({self.label})"

    def stage(self, value: str) -> Stage | None:
        """The stage whose id is ``value``, else the one whose label is (ignoring case)."""
        return _pick(self.stages, value)

    def stage_list(self) -> str:
        return ", ".join(s.describe() for s in self.stages)


def _pick(items: Iterable[Any], value: str) -> Any:
    items = list(items)
    by_id = [i for i in items if i.id == value]
    if by_id:
        return by_id[0]
    by_label = [i for i in items if i.label.casefold() == value.strip().casefold()]
    return by_label[0] if len(by_label) == 1 else None  # two of one label: only the id tells them apart


class Pipelines:
    """The pipelines of one object type (``GET /crm/v3/pipelines/{deals|tickets}``)."""

    def __init__(self, object_type: str, pipelines: Iterable[Pipeline]) -> None:
        self.object_type = object_type
        self.pipelines = tuple(pipelines)

    @classmethod
    def from_api(cls, object_type: str, data: Mapping[str, Any]) -> Pipelines:
        def order(item: Mapping[str, Any]) -> tuple[int, str]:
            return int(item.get("displayOrder") or 0), str(item.get("id"))

        return cls(object_type, [
            Pipeline(str(p["id"]), str(p.get("label") or p["id"]),
                     tuple(Stage(str(s["id"]), str(s.get("label") or s["id"]))
                           for s in sorted(p.get("stages") or [], key=order) if not s.get("archived")))
            for p in sorted(data.get("results") or [], key=order) if not p.get("archived")
        ])

    def find(self, value: str) -> Pipeline | None:
        """The pipeline whose id is ``value``, else the one whose label is (ignoring case)."""
        return _pick(self.pipelines, value)

    def pipeline_list(self) -> str:
        return ", ".join(p.describe() for p in self.pipelines) or "none"

    def owners_of_stage(self, value: str) -> list[Pipeline]:
        """The pipelines with a stage of that id or label."""
        return [p for p in self.pipelines if p.stage(value) is not None]

    def fingerprint(self) -> list[Any]:
        """What resolution depends on, for the mapping's fingerprint: a renamed label changes it."""
        return [[p.id, p.label, [[s.id, s.label] for s in p.stages]] for p in self.pipelines]


def _via(value: str, mapped: str) -> str:
    return f"{value!r}" if mapped == value else f"{value!r} (mapped to {mapped!r})"


def resolve(obj: ObjectConfig, pipelines: Pipelines, properties: dict[str, str]) -> list[str]:
    """Replace the row's pipeline and stage values in ``properties`` by HubSpot's ids; return the
    problems (a value that names no pipeline, or no stage of the row's pipeline), each naming the
    value, the pipeline's stages and the setting to fix."""
    names = PIPELINE_PROPERTIES.get(obj.object_type)
    if names is None:
        return []
    pipeline_prop, stage_prop = names
    problems: list[str] = []
    pipeline: Pipeline | None = None
    raw = properties.get(pipeline_prop)
    if raw:
        mapped = obj.pipeline_map.get(raw, raw)
        pipeline = pipelines.find(mapped)
        if pipeline is None:
            problems.append(
                f"{pipeline_prop}: {_via(raw, mapped)} is neither the id nor the label of a {obj.object_type} "
                f"pipeline; the pipelines: {pipelines.pipeline_list()}; fix the row, or map the value in "
                f"pipeline_map of object {obj.name!r}")
        else:
            properties[pipeline_prop] = pipeline.id
    raw = properties.get(stage_prop)
    if not raw:
        return problems
    mapped = obj.stage_map.get(raw, raw)
    if pipeline is None:
        if not properties.get(pipeline_prop):
            problems.append(f"{stage_prop}: {_via(raw, mapped)} needs the row's pipeline, and {pipeline_prop} is "
                            f"empty; give the row a pipeline (fields.{pipeline_prop} of object {obj.name!r})")
        return problems  # an unknown pipeline is reported above: its stages cannot be told
    stage = pipeline.stage(mapped)
    if stage is not None:
        properties[stage_prop] = stage.id
        return problems
    elsewhere = [p for p in pipelines.owners_of_stage(mapped) if p.id != pipeline.id]
    where = (f"is a stage of pipeline {elsewhere[0].describe()}, not of the row's pipeline {pipeline.describe()}"
             if elsewhere else f"is not a stage of pipeline {pipeline.describe()}")
    problems.append(f"{stage_prop}: {_via(raw, mapped)} {where}; its stages: {pipeline.stage_list()}; fix the "
                    f"row, or map the value in stage_map of object {obj.name!r}")
    return problems


def config_problems(obj: ObjectConfig, pipelines: Pipelines) -> list[str]:
    """Settings that name no pipeline or stage of the portal, each with its path under the object:
    constants, ``map`` transform outputs, ``pipeline_map`` and ``stage_map`` entries."""
    names = PIPELINE_PROPERTIES.get(obj.object_type)
    if names is None:
        return []
    pipeline_prop, stage_prop = names
    problems: list[str] = []

    def fixed(prop: str) -> list[tuple[str, str]]:  # (path, value) of the values a field always sends
        spec = obj.fields.get(prop)
        if spec is None:
            return []
        out = [(f"fields.{prop}.constant", spec.constant)] if spec.constant is not None else []
        for t in spec.transforms:
            if t.name == "map":
                out += [(f"fields.{prop}.transform", str(v)) for v in t.arg["values"].values() if v is not None]
                if t.arg.get("default") is not None:
                    out.append((f"fields.{prop}.transform", str(t.arg["default"])))
        return out

    known = pipelines.pipeline_list()
    constant: Pipeline | None = None
    for path, value in [*fixed(pipeline_prop), *((f"pipeline_map.{k}", v) for k, v in obj.pipeline_map.items())]:
        mapped = obj.pipeline_map.get(value, value) if path.startswith("fields.") else value
        found = pipelines.find(mapped)
        if found is None:
            problems.append(f"{path}: {mapped!r} is neither the id nor the label of a {obj.object_type} pipeline; "
                            f"the pipelines: {known}")
        elif path.endswith(".constant"):
            constant = found
    stage_values = [*fixed(stage_prop), *((f"stage_map.{k}", v) for k, v in obj.stage_map.items())]
    for path, value in stage_values:
        mapped = obj.stage_map.get(value, value) if path.startswith("fields.") else value
        if constant is not None:
            if constant.stage(mapped) is None:
                problems.append(f"{path}: {mapped!r} is not a stage of pipeline {constant.describe()}; its stages: "
                                f"{constant.stage_list()}")
        elif not pipelines.owners_of_stage(mapped):
            every = "; ".join(f"{p.describe()}: {p.stage_list()}" for p in pipelines.pipelines) or "none"
            problems.append(f"{path}: {mapped!r} is not a stage of any {obj.object_type} pipeline; the stages: "
                            f"{every}")
    return problems

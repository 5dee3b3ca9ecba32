"""Deal and ticket pipelines: their wire format and the pipeline/stage check of a write.

A deal's ``pipeline``/``dealstage`` (a ticket's ``hs_pipeline``/``hs_pipeline_stage``) take
internal ids. The enumeration options of those properties are every pipeline id and every
stage id of the object type; on top of that a stage must belong to the record's pipeline.
"""

from __future__ import annotations

from typing import Any

from .properties import now_iso
from .validation import INVALID_OPTION, property_error

# (pipeline property, stage property) of each object type that has pipelines.
PIPELINE_PROPERTIES = {"deals": ("pipeline", "dealstage"), "tickets": ("hs_pipeline", "hs_pipeline_stage")}

# When HubSpot's built-in pipelines were "created".
_BUILT_IN_AT = "2019-08-06T02:41:52.000Z"

_DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", {"isClosed": "false", "probability": "0.2"}),
    ("qualifiedtobuy", "Qualified To Buy", {"isClosed": "false", "probability": "0.4"}),
    ("presentationscheduled", "Presentation Scheduled", {"isClosed": "false", "probability": "0.6"}),
    ("decisionmakerboughtin", "Decision Maker Bought-In", {"isClosed": "false", "probability": "0.8"}),
    ("contractsent", "Contract Sent", {"isClosed": "false", "probability": "0.9"}),
    ("closedwon", "Closed Won", {"isClosed": "true", "probability": "1.0"}),
    ("closedlost", "Closed Lost", {"isClosed": "true", "probability": "0.0"}),
]
_TICKET_STAGES = [
    ("1", "New", {"ticketState": "OPEN"}),
    ("2", "Waiting on contact", {"ticketState": "OPEN"}),
    ("3", "Waiting on us", {"ticketState": "OPEN"}),
    ("4", "Closed", {"ticketState": "CLOSED"}),
]
# Metadata of a stage added without any (HubSpot asks for a deal stage's probability).
_DEFAULT_METADATA = {"deals": {"isClosed": "false", "probability": "0.0"}, "tickets": {"ticketState": "OPEN"}}


def _stage(stage: Any, order: int, object_type: str, created: str) -> dict[str, Any]:
    if isinstance(stage, dict):
        stage_id, label, metadata = stage.get("id"), stage.get("label"), stage.get("metadata")
    elif isinstance(stage, list | tuple) and len(stage) in (2, 3):
        stage_id, label = stage[0], stage[1]
        metadata = stage[2] if len(stage) == 3 else None
    else:
        raise ValueError(f"a stage is (id, label), (id, label, metadata) or a dict, not {stage!r}")
    if not isinstance(stage_id, str) or not stage_id or not isinstance(label, str) or not label:
        raise ValueError(f"a stage needs a non-empty string id and label, not {stage!r}")
    if metadata is None:
        metadata = dict(_DEFAULT_METADATA.get(object_type, {}))
    return {
        "id": stage_id,
        "label": label,
        "displayOrder": order,
        "metadata": {str(k): str(v) for k, v in metadata.items()},
        "createdAt": created,
        "updatedAt": created,
        "archived": False,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def make_pipeline(
    object_type: str,
    pipeline_id: str,
    label: str,
    stages: list[Any],
    display_order: int = 0,
    created: str | None = None,
) -> dict[str, Any]:
    """A pipeline in HubSpot's wire format (the SDK's ``Pipeline``); ``ValueError`` when malformed."""
    if object_type not in PIPELINE_PROPERTIES:
        raise ValueError(f"{object_type} has no pipelines here; only {', '.join(PIPELINE_PROPERTIES)} do")
    if not isinstance(pipeline_id, str) or not pipeline_id or not isinstance(label, str) or not label:
        raise ValueError("a pipeline needs a non-empty string id and label")
    if not stages:
        raise ValueError(f"pipeline {pipeline_id} needs at least one stage")
    created = created or now_iso()
    built = [_stage(stage, i, object_type, created) for i, stage in enumerate(stages)]
    ids = [s["id"] for s in built]
    if len(set(ids)) != len(ids):
        raise ValueError(f"pipeline {pipeline_id} has duplicate stage ids: {ids}")
    return {
        "id": pipeline_id,
        "label": label,
        "displayOrder": display_order,
        "stages": built,
        "createdAt": created,
        "updatedAt": created,
        "archived": False,
    }


def default_pipelines() -> dict[str, dict[str, dict[str, Any]]]:
    """``{objectType: {pipelineId: pipeline}}``: deals' ``default`` and tickets' ``0``."""
    return {
        "deals": {"default": make_pipeline("deals", "default", "Sales Pipeline", _DEAL_STAGES, 0, _BUILT_IN_AT)},
        "tickets": {"0": make_pipeline("tickets", "0", "Support Pipeline", _TICKET_STAGES, 0, _BUILT_IN_AT)},
    }


def ordered(pipelines: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Pipelines by display order, then id."""
    return sorted(pipelines.values(), key=lambda p: (p["displayOrder"], p["id"]))


def property_options(pipelines: dict[str, dict[str, Any]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(pipeline options, stage options)`` as ``(label, value)`` pairs, in display order."""
    pipeline_options = [(p["label"], p["id"]) for p in ordered(pipelines)]
    stage_options = [(s["label"], s["id"]) for p in ordered(pipelines) for s in p["stages"]]
    return pipeline_options, stage_options


def check_stage(
    object_type: str,
    pipelines: dict[str, dict[str, Any]],
    current: dict[str, str] | None,
    changes: dict[str, str],
) -> list[dict[str, Any]]:
    """The stage of a write must be a stage of the record's pipeline.

    ``current`` is the record's properties (None for a new record), ``changes`` the write's
    validated values. The pipeline is the written one, else the record's, else the first
    pipeline (HubSpot puts a deal without one in its default pipeline). Only writes that touch
    the pipeline or the stage are checked; unknown ids are left to the enumeration check.
    """
    names = PIPELINE_PROPERTIES.get(object_type)
    if names is None or not pipelines:
        return []
    pipeline_prop, stage_prop = names
    if pipeline_prop not in changes and stage_prop not in changes:
        return []
    current = current or {}
    pipeline_id = changes[pipeline_prop] if pipeline_prop in changes else current.get(pipeline_prop)
    stage_id = changes[stage_prop] if stage_prop in changes else current.get(stage_prop)
    if not stage_id:
        return []
    pipeline = pipelines.get(pipeline_id) if pipeline_id else ordered(pipelines)[0]
    if pipeline is None:
        return []
    allowed = [s["id"] for s in pipeline["stages"]]
    if stage_id in allowed:
        return []
    return [property_error(
        stage_prop, INVALID_OPTION,
        f"{stage_id} was not one of the allowed options: [{', '.join(allowed)}] "
        f"(the stages of pipeline {pipeline['id']})",
    )]

"""shared/mapping/pipelines.py: deal and ticket pipeline/stage values resolved to HubSpot's ids, by
id, by label (case-insensitively) or by the object's own code maps; rows that name nothing are
rejected with a reason that says what to fix. Expected ids are written out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.config import ObjectConfig, parse_config
from shared.errors import RecordRejected
from shared.keys import encode_version, key_to_json
from shared.mapping.data_validator import PortalSchema, PropertyDef
from shared.mapping.field_mapper import map_row, mapping_fingerprint
from shared.mapping.pipelines import Pipelines, config_problems
from shared.source.delta import DeltaRow
from shared.sync.assessment import assess

pytestmark = pytest.mark.unit


def stage(sid: str, label: str, order: int) -> dict[str, Any]:
    return {"id": sid, "label": label, "displayOrder": order, "metadata": {}, "archived": False}


# the shape of GET /crm/v3/pipelines/deals
DEAL_PIPELINES = {"results": [
    {"id": "enterprise", "label": "Enterprise", "displayOrder": 1, "archived": False,
     "stages": [stage("ent_new", "New", 0), stage("ent_won", "Closed Won", 1)]},
    {"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
     "stages": [stage("appointmentscheduled", "Appointment Scheduled", 0), stage("closedwon", "Closed Won", 5),
                stage("closedlost", "Closed Lost", 6), stage("old", "Retired", 7) | {"archived": True}]},
    {"id": "gone", "label": "Archived one", "displayOrder": 2, "archived": True, "stages": []},
]}
PIPELINES = Pipelines.from_api("deals", DEAL_PIPELINES)
STAGE_IDS = frozenset({"appointmentscheduled", "closedwon", "closedlost", "ent_new", "ent_won"})
SCHEMA = PortalSchema("deals", [
    PropertyDef("sql_deal_id", "string", unique=True),
    PropertyDef("dealname", "string"),
    PropertyDef("pipeline", "enumeration", "select", frozenset({"default", "enterprise"})),
    PropertyDef("dealstage", "enumeration", "radio", STAGE_IDS),
], PIPELINES)


def deals(pipeline: dict[str, Any] | None = None, **changes: Any) -> ObjectConfig:
    obj = {"name": "deals", "object_type": "deals", "table": "dbo.Deals", "key": ["DealId"],
           "watermark": {"column": "RowVer", "kind": "integer"}, "id_property": "sql_deal_id",
           "fields": {"sql_deal_id": {"column": "DealId", "transform": "string"}, "dealname": {"column": "Name"},
                      "pipeline": pipeline or {"column": "Pipeline"}, "dealstage": {"column": "Stage"}}}
    obj.update(changes)
    return parse_config({"objects": [obj]}).objects[0]


def row(pipeline: Any, stage_value: Any, deal_id: int = 1) -> dict[str, Any]:
    return {"DealId": deal_id, "RowVer": 1, "Name": f"Deal {deal_id}", "Pipeline": pipeline, "Stage": stage_value}


def mapped(obj: ObjectConfig, pipeline: Any, stage_value: Any) -> dict[str, str]:
    props = map_row(row(pipeline, stage_value), obj, "v", SCHEMA.types(), PIPELINES).properties
    return {"pipeline": props["pipeline"], "dealstage": props["dealstage"]}


def rejection(obj: ObjectConfig, pipeline: Any, stage_value: Any) -> str:
    with pytest.raises(RecordRejected) as err:
        map_row(row(pipeline, stage_value), obj, "v", SCHEMA.types(), PIPELINES)
    return err.value.reason


def test_archived_pipelines_and_stages_are_left_out_and_the_rest_kept_in_display_order() -> None:
    assert [p.id for p in PIPELINES.pipelines] == ["default", "enterprise"]
    assert [s.id for s in PIPELINES.pipelines[0].stages] == ["appointmentscheduled", "closedwon", "closedlost"]


@pytest.mark.parametrize(("pipeline", "stage_value", "expected"), [
    ("default", "closedwon", ("default", "closedwon")),                # ids
    ("Sales Pipeline", "Closed Won", ("default", "closedwon")),        # labels
    ("sales pipeline", "  CLOSED won ", ("default", "closedwon")),     # labels, any case
    ("Enterprise", "Closed Won", ("enterprise", "ent_won")),           # the label of the row's pipeline's stage
    ("ENTERPRISE", "new", ("enterprise", "ent_new")),
])
def test_ids_and_labels_resolve_within_the_rows_pipeline(pipeline: str, stage_value: str,
                                                         expected: tuple[str, str]) -> None:
    assert mapped(deals(), pipeline, stage_value) == {"pipeline": expected[0], "dealstage": expected[1]}


def test_the_stage_map_turns_the_sources_codes_into_stages_of_the_rows_pipeline() -> None:
    obj = deals(stage_map={"W": "Closed Won", "L": "closedlost", 3: "appointmentscheduled",
                           "closedlost": "closedwon"}, pipeline_map={"ENT": "enterprise", "S": "Sales Pipeline"})
    assert mapped(obj, "S", "W") == {"pipeline": "default", "dealstage": "closedwon"}
    assert mapped(obj, "ENT", "W") == {"pipeline": "enterprise", "dealstage": "ent_won"}
    assert mapped(obj, "default", 3) == {"pipeline": "default", "dealstage": "appointmentscheduled"}
    assert mapped(obj, "default", "L") == {"pipeline": "default", "dealstage": "closedlost"}
    # an entry of the map wins over a value that is an id itself
    assert mapped(obj, "default", "closedlost") == {"pipeline": "default", "dealstage": "closedwon"}
    # values the map does not list still resolve by id or label
    assert mapped(obj, "Sales Pipeline", "Closed Lost") == {"pipeline": "default", "dealstage": "closedlost"}


def test_an_unknown_stage_is_rejected_naming_the_value_the_pipeline_its_stages_and_the_setting() -> None:
    reason = rejection(deals(), "Sales Pipeline", "Closed Wonn")
    assert reason == (
        "dealstage: 'Closed Wonn' is not a stage of pipeline 'default' (Sales Pipeline); its stages: "
        "appointmentscheduled (Appointment Scheduled), closedwon (Closed Won), closedlost (Closed Lost); fix the "
        "row, or map the value in stage_map of object 'deals'")
    reason = rejection(deals(stage_map={"X": "Won"}), "default", "X")
    assert reason.startswith("dealstage: 'X' (mapped to 'Won') is not a stage of pipeline 'default'")


def test_a_stage_of_another_pipeline_is_rejected() -> None:
    reason = rejection(deals(), "default", "ent_won")
    assert reason.startswith("dealstage: 'ent_won' is a stage of pipeline 'enterprise' (Enterprise), not of the "
                             "row's pipeline 'default' (Sales Pipeline); its stages: appointmentscheduled")
    assert "New" not in rejection(deals(), "Enterprise", "appointmentscheduled").split("its stages:")[0]


def test_an_unknown_pipeline_or_a_missing_one_is_rejected() -> None:
    reason = rejection(deals(), "Enterprize", "New")
    assert reason == ("pipeline: 'Enterprize' is neither the id nor the label of a deals pipeline; the pipelines: "
                      "'default' (Sales Pipeline), 'enterprise' (Enterprise); fix the row, or map the value in "
                      "pipeline_map of object 'deals'")
    assert rejection(deals(), None, "closedwon").startswith(
        "dealstage: 'closedwon' needs the row's pipeline, and pipeline is empty")


def test_two_pipelines_of_one_label_are_told_apart_only_by_id() -> None:
    twins = Pipelines.from_api("deals", {"results": [
        {"id": "a", "label": "Sales", "stages": [stage("a1", "Won", 0)]},
        {"id": "b", "label": "sales", "stages": [stage("b1", "Won", 0)]}]})
    assert twins.find("Sales") is None and twins.find("b").id == "b"  # type: ignore[union-attr]


def test_assess_rejects_only_the_row_whose_stage_names_nothing() -> None:
    obj = deals()
    rows = {key_to_json((i,)): DeltaRow((i,), encode_version("integer", i), dict(row(p, s, i), RowVer=i))
            for i, (p, s) in enumerate([("Sales Pipeline", "Closed Won"), ("default", "Nope"), ("enterprise", "New")], 1)}
    settled, tally, candidates = assess(obj, SCHEMA, list(rows), rows, {})
    assert tally["rejected"] == 1 and settled[0].source_key == key_to_json((2,))
    assert "'Nope' is not a stage of pipeline 'default'" in (settled[0].reason or "")
    assert [(c.mapped.properties["pipeline"], c.mapped.properties["dealstage"]) for c in candidates] == [
        ("default", "closedwon"), ("enterprise", "ent_new")]


def test_the_fingerprint_follows_the_pipelines_and_maps_and_leaves_other_objects_alone() -> None:
    obj = deals()
    renamed = json.loads(json.dumps(DEAL_PIPELINES).replace('"Closed Won"', '"Won"'))
    base = mapping_fingerprint(obj, SCHEMA.types(), PIPELINES)
    assert mapping_fingerprint(obj, SCHEMA.types(), Pipelines.from_api("deals", renamed)) != base
    assert mapping_fingerprint(deals(stage_map={"W": "closedwon"}), SCHEMA.types(), PIPELINES) != base
    assert mapping_fingerprint(obj, SCHEMA.types(), PIPELINES) == base
    plain = parse_config({"objects": [{
        "name": "contacts", "object_type": "contacts", "table": "c", "key": ["id"],
        "watermark": {"column": "v", "kind": "integer"}, "id_property": "email",
        "fields": {"email": {"column": "email"}}}]}).objects[0]
    assert set(json.loads(mapping_fingerprint(plain, {}))) == {
        "object_type", "key", "id_property", "fields", "null_values", "phone_region", "types"}


def test_config_problems_name_each_wrong_constant_and_map_entry() -> None:
    obj = deals(pipeline={"constant": "Sales Pipeline"},
                stage_map={"W": "Closed Won", "E": "ent_won", "Z": "Zzz"})
    assert config_problems(obj, PIPELINES) == [
        "stage_map.E: 'ent_won' is not a stage of pipeline 'default' (Sales Pipeline); its stages: "
        "appointmentscheduled (Appointment Scheduled), closedwon (Closed Won), closedlost (Closed Lost)",
        "stage_map.Z: 'Zzz' is not a stage of pipeline 'default' (Sales Pipeline); its stages: "
        "appointmentscheduled (Appointment Scheduled), closedwon (Closed Won), closedlost (Closed Lost)",
    ]
    obj = deals(pipeline={"constant": "Sales Pipe"}, pipeline_map={"E": "enterprise", "X": "nope"})
    problems = config_problems(obj, PIPELINES)
    assert [p.split(":")[0] for p in problems] == ["fields.pipeline.constant", "pipeline_map.X"]
    assert "'Sales Pipe' is neither the id nor the label of a deals pipeline" in problems[0]
    # the pipeline from a column: a stage must be a stage of some pipeline
    obj = deals(stage_map={"E": "ent_won", "Z": "Zzz"})
    [problem] = config_problems(obj, PIPELINES)
    assert problem.startswith("stage_map.Z: 'Zzz' is not a stage of any deals pipeline")
    fields = {"sql_deal_id": {"column": "DealId"}, "pipeline": {"constant": "enterprise"},
              "dealstage": {"constant": "Closed Won"}}
    assert config_problems(deals(fields=fields), PIPELINES) == []
    [problem] = config_problems(deals(fields=fields | {"dealstage": {"constant": "closedwon"}}), PIPELINES)
    assert problem.startswith("fields.dealstage.constant: 'closedwon' is not a stage of pipeline 'enterprise'")
    bad_map = deals(pipeline={"column": "P", "transform": {"map": {"A": "default", "B": "Enterprize"}}})
    [problem] = config_problems(bad_map, PIPELINES)
    assert problem.startswith("fields.pipeline.transform: 'Enterprize' is neither")

"""GET /crm/v3/pipelines/{deals|tickets}, parsed by the SDK's pipeline models."""

from __future__ import annotations

import json

import pytest
from hubspot.crm import pipelines
from hubspot.crm.pipelines.models import CollectionResponsePipelineNoPaging, Pipeline, PipelineStage

pytestmark = pytest.mark.emulator

DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
               "contractsent", "closedwon", "closedlost"]


def test_built_in_deal_pipeline(hubspot_client):
    response = hubspot_client.crm.pipelines.pipelines_api.get_all("deals")

    assert isinstance(response, CollectionResponsePipelineNoPaging)
    [pipeline] = response.results
    assert isinstance(pipeline, Pipeline)
    assert (pipeline.id, pipeline.label, pipeline.display_order, pipeline.archived) == ("default", "Sales Pipeline", 0,
                                                                                         False)
    assert [s.id for s in pipeline.stages] == DEAL_STAGES
    assert [s.display_order for s in pipeline.stages] == list(range(7))
    assert all(isinstance(s, PipelineStage) and s.archived is False for s in pipeline.stages)
    by_id = {s.id: s for s in pipeline.stages}
    assert by_id["closedwon"].label == "Closed Won"
    assert by_id["closedwon"].metadata == {"isClosed": "true", "probability": "1.0"}
    assert by_id["appointmentscheduled"].metadata == {"isClosed": "false", "probability": "0.2"}
    assert pipeline.created_at is not None and pipeline.updated_at is not None


def test_built_in_ticket_pipeline(hubspot_client):
    [pipeline] = hubspot_client.crm.pipelines.pipelines_api.get_all("tickets").results
    assert (pipeline.id, pipeline.label) == ("0", "Support Pipeline")
    assert [(s.id, s.label) for s in pipeline.stages] == [
        ("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed"),
    ]
    assert pipeline.stages[3].metadata == {"ticketState": "CLOSED"}


def test_added_pipeline_is_listed_and_offered_as_an_option(emulator, hubspot_client):
    added = emulator.add_pipeline("deals", "renewals", "Renewals",
                                  [("ren_open", "Open"), ("ren_won", "Won", {"isClosed": "true", "probability": "1.0"})])
    assert added["displayOrder"] == 1
    assert [s["metadata"] for s in added["stages"]] == [
        {"isClosed": "false", "probability": "0.0"}, {"isClosed": "true", "probability": "1.0"},
    ]

    api = hubspot_client.crm.pipelines.pipelines_api
    assert [p.id for p in api.get_all("deals").results] == ["default", "renewals"]
    one = api.get_by_id("deals", "renewals")
    assert [s.id for s in one.stages] == ["ren_open", "ren_won"]

    stages = hubspot_client.crm.pipelines.pipeline_stages_api
    assert [s.label for s in stages.get_all("deals", "renewals").results] == ["Open", "Won"]
    assert stages.get_by_id("deals", "renewals", "ren_won").metadata["isClosed"] == "true"

    props = {p.name: p for p in hubspot_client.crm.properties.core_api.get_all("deals").results}
    assert [o.value for o in props["pipeline"].options] == ["default", "renewals"]
    assert [o.value for o in props["dealstage"].options] == [*DEAL_STAGES, "ren_open", "ren_won"]


def test_pipeline_errors(emulator, hubspot_client):
    api = hubspot_client.crm.pipelines.pipelines_api
    with pytest.raises(pipelines.ApiException) as missing:
        api.get_by_id("deals", "nope")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["category"] == "OBJECT_NOT_FOUND"

    with pytest.raises(pipelines.ApiException) as unknown_type:
        api.get_all("widgets")
    assert unknown_type.value.status == 404

    with pytest.raises(pipelines.ApiException) as no_pipelines:
        api.get_all("contacts")
    assert no_pipelines.value.status == 400

    with pytest.raises(pipelines.ApiException) as no_stage:
        hubspot_client.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "nope")
    assert no_stage.value.status == 404


def test_add_pipeline_refuses_bad_definitions(emulator):
    with pytest.raises(ValueError, match="already a stage of pipeline default"):
        emulator.add_pipeline("deals", "other", "Other", [("closedwon", "Won")])
    with pytest.raises(ValueError, match="duplicate stage ids"):
        emulator.add_pipeline("deals", "other", "Other", [("a", "A"), ("a", "B")])
    with pytest.raises(ValueError, match="at least one stage"):
        emulator.add_pipeline("tickets", "other", "Other", [])
    with pytest.raises(ValueError, match="no pipelines"):
        emulator.add_pipeline("contacts", "other", "Other", [("a", "A")])
    assert [p["id"] for p in emulator.pipelines("deals")] == ["default"]


def test_added_pipelines_persist_in_the_data_file(tmp_path, emulator_factory, client_factory):
    data_file = str(tmp_path / "portal.json")
    first = emulator_factory(data_file=data_file)
    first.add_pipeline("tickets", "it", "IT", [("it_open", "Open")])
    first.stop()
    second = emulator_factory(data_file=data_file)
    api = client_factory(second).crm.pipelines.pipelines_api
    assert [p.id for p in api.get_all("tickets").results] == ["0", "it"]

"""Companies, deals and tickets through their own SDK batch APIs, like contacts."""

from __future__ import annotations

import json

import pytest
from hubspot.crm import companies, deals, tickets

pytestmark = pytest.mark.emulator

PREFIX = "Property values were not valid: "


def embedded(exc) -> list[dict]:
    body = json.loads(exc.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith(PREFIX)
    return json.loads(body["message"][len(PREFIX):])


def create(package, api, *props: dict[str, str]):
    return api.create(package.BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[package.SimplePublicObjectBatchInputForCreate(properties=p) for p in props]
    ))


def upsert(package, api, id_property: str, *rows: tuple[str, dict[str, str]]):
    return api.upsert(package.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        package.SimplePublicObjectBatchInputUpsert(id=key, id_property=id_property, properties=props)
        for key, props in rows
    ]))


def update(package, api, *rows: tuple[str, dict[str, str]]):
    return api.update(package.BatchInputSimplePublicObjectBatchInput(
        inputs=[package.SimplePublicObjectBatchInput(id=rid, properties=props) for rid, props in rows]
    ))


# ---------------------------------------------------------------- companies
def test_companies_may_share_a_domain(emulator, hubspot_client):
    api = hubspot_client.crm.companies.batch_api
    response = create(companies, api, {"name": "Acme EU", "domain": "acme.com"}, {"name": "Acme US", "domain": "acme.com"})

    assert isinstance(response, companies.BatchResponseSimplePublicObject)
    assert [r.properties["name"] for r in response.results] == ["Acme EU", "Acme US"]
    assert sorted(r["properties"]["name"] for r in emulator.records("companies")) == ["Acme EU", "Acme US"]
    assert {r["properties"]["domain"] for r in emulator.records("companies")} == {"acme.com"}


def test_companies_cannot_be_upserted_by_domain(emulator, hubspot_client):
    api = hubspot_client.crm.companies.batch_api
    with pytest.raises(companies.ApiException) as exc:
        upsert(companies, api, "domain", ("acme.com", {"name": "Acme"}))
    assert exc.value.status == 400
    assert "non-unique domain" in json.loads(exc.value.body)["message"]
    assert emulator.records("companies") == []


def test_companies_upsert_by_a_custom_unique_property(emulator, hubspot_client):
    emulator.add_property("companies", {"name": "sql_company_id", "type": "string", "hasUniqueValue": True})
    api = hubspot_client.crm.companies.batch_api

    first = upsert(companies, api, "sql_company_id", ("C-1", {"name": "Acme", "domain": "acme.com"}),
                   ("C-2", {"name": "Acme 2", "domain": "acme.com"}))
    assert [r.new for r in first.results] == [True, True]
    again = upsert(companies, api, "sql_company_id", ("C-1", {"name": "Acme Inc"}))
    assert again.results[0].new is False
    assert again.results[0].id == first.results[0].id
    assert emulator.find("companies", "sql_company_id", "C-1")["properties"]["name"] == "Acme Inc"
    assert len(emulator.records("companies")) == 2

    with pytest.raises(companies.ApiException) as exc:
        create(companies, api, {"name": "Copy", "sql_company_id": "C-2"})
    assert exc.value.status == 409
    assert json.loads(exc.value.body)["category"] == "CONFLICT"


def test_company_read_returns_default_properties(emulator, hubspot_client):
    api = hubspot_client.crm.companies.batch_api
    created = create(companies, api, {"name": "Readme", "domain": "read.me", "city": "Oslo"}).results[0]
    response = api.read(companies.BatchReadInputSimplePublicObjectId(
        inputs=[companies.SimplePublicObjectId(id=created.id)], properties=[]
    ))
    props = response.results[0].properties
    assert (props["name"], props["domain"]) == ("Readme", "read.me")
    assert "city" not in props
    assert props["hs_object_id"] == created.id


# ---------------------------------------------------------------- deals
def test_deal_in_the_default_pipeline(emulator, hubspot_client):
    api = hubspot_client.crm.deals.batch_api
    response = create(deals, api, {"dealname": "Big", "pipeline": "default", "dealstage": "qualifiedtobuy",
                                   "amount": "1000"})
    deal = response.results[0]
    assert deal.properties["dealstage"] == "qualifiedtobuy"
    assert deal.properties["pipeline"] == "default"
    assert emulator.get_record("deals", deal.id)["properties"]["amount"] == "1000"


@pytest.mark.parametrize(("props", "name"), [
    ({"dealname": "x", "pipeline": "nope", "dealstage": "closedwon"}, "pipeline"),
    ({"dealname": "x", "pipeline": "default", "dealstage": "nope"}, "dealstage"),
    ({"dealname": "x", "pipeline": "enterprise", "dealstage": "closedwon"}, "dealstage"),
    ({"dealname": "x", "dealstage": "ent_signed"}, "dealstage"),  # no pipeline: the default one
])
def test_deal_pipeline_and_stage_are_validated(emulator, hubspot_client, props, name):
    emulator.add_pipeline("deals", "enterprise", "Enterprise", [("ent_new", "New"), ("ent_signed", "Signed")])
    api = hubspot_client.crm.deals.batch_api
    with pytest.raises(deals.ApiException) as exc:
        create(deals, api, {"dealname": "fine", "pipeline": "default", "dealstage": "closedwon"}, props)
    assert exc.value.status == 400
    [detail] = embedded(exc.value)
    assert (detail["name"], detail["error"]) == (name, "INVALID_OPTION")
    assert detail["message"].startswith(f"{props[name]} was not one of the allowed options: [")
    assert emulator.records("deals") == []  # one bad input fails the whole batch


def test_deal_stage_of_another_pipeline_lists_the_pipelines_stages(emulator, hubspot_client):
    emulator.add_pipeline("deals", "enterprise", "Enterprise", [("ent_new", "New"), ("ent_signed", "Signed")])
    with pytest.raises(deals.ApiException) as exc:
        create(deals, hubspot_client.crm.deals.batch_api, {"pipeline": "enterprise", "dealstage": "closedwon"})
    [detail] = embedded(exc.value)
    assert detail["message"] == (
        "closedwon was not one of the allowed options: [ent_new, ent_signed] (the stages of pipeline enterprise)"
    )


def test_deal_stage_update_is_checked_against_the_records_pipeline(emulator, hubspot_client):
    emulator.add_pipeline("deals", "enterprise", "Enterprise", [("ent_new", "New"), ("ent_signed", "Signed")])
    api = hubspot_client.crm.deals.batch_api
    deal_id = create(deals, api, {"dealname": "E", "pipeline": "enterprise", "dealstage": "ent_new"}).results[0].id

    assert update(deals, api, (deal_id, {"dealstage": "ent_signed"})).results[0].properties["dealstage"] == "ent_signed"

    with pytest.raises(deals.ApiException) as exc:
        update(deals, api, (deal_id, {"dealstage": "closedwon"}))  # a stage of 'default', not of 'enterprise'
    [detail] = embedded(exc.value)
    assert (detail["name"], detail["error"]) == ("dealstage", "INVALID_OPTION")

    with pytest.raises(deals.ApiException):
        update(deals, api, (deal_id, {"pipeline": "default"}))  # the record's stage is not in 'default'

    moved = update(deals, api, (deal_id, {"pipeline": "default", "dealstage": "closedwon"})).results[0]
    assert (moved.properties["pipeline"], moved.properties["dealstage"]) == ("default", "closedwon")
    assert emulator.get_record("deals", deal_id)["properties"]["dealstage"] == "closedwon"


def test_deal_upsert_checks_the_stage_of_the_matched_record(emulator, hubspot_client):
    emulator.add_pipeline("deals", "enterprise", "Enterprise", [("ent_new", "New")])
    api = hubspot_client.crm.deals.batch_api
    upsert(deals, api, "external_id", ("D-1", {"dealname": "D", "pipeline": "enterprise", "dealstage": "ent_new"}))
    with pytest.raises(deals.ApiException) as exc:
        upsert(deals, api, "external_id", ("D-1", {"dealstage": "contractsent"}))
    assert embedded(exc.value)[0]["name"] == "dealstage"
    assert emulator.find("deals", "external_id", "D-1")["properties"]["dealstage"] == "ent_new"


# ---------------------------------------------------------------- tickets
def test_tickets_have_their_default_properties(hubspot_client):
    names = {p.name: p for p in hubspot_client.crm.properties.core_api.get_all("tickets").results}
    assert {"subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "createdate",
            "hs_lastmodifieddate", "hs_object_id"} <= set(names)
    assert [o.value for o in names["hs_pipeline"].options] == ["0"]
    assert [o.value for o in names["hs_pipeline_stage"].options] == ["1", "2", "3", "4"]


def test_ticket_create_read_and_stage_validation(emulator, hubspot_client):
    api = hubspot_client.crm.tickets.batch_api
    created = create(tickets, api, {"subject": "Printer on fire", "hs_pipeline": "0", "hs_pipeline_stage": "1",
                                    "hs_ticket_priority": "HIGH"}).results[0]
    assert created.properties["subject"] == "Printer on fire"
    assert created.properties["hs_lastmodifieddate"]

    read = api.read(tickets.BatchReadInputSimplePublicObjectId(
        inputs=[tickets.SimplePublicObjectId(id=created.id)], properties=[]
    )).results[0].properties
    assert (read["subject"], read["hs_pipeline"], read["hs_pipeline_stage"]) == ("Printer on fire", "0", "1")
    assert read["hs_ticket_priority"] == "HIGH"

    emulator.add_pipeline("tickets", "it", "IT", [("it_open", "Open"), ("it_done", "Done")])
    with pytest.raises(tickets.ApiException) as exc:
        update(tickets, api, (created.id, {"hs_pipeline_stage": "it_done"}))
    [detail] = embedded(exc.value)
    assert (detail["name"], detail["error"]) == ("hs_pipeline_stage", "INVALID_OPTION")
    assert "[1, 2, 3, 4]" in detail["message"]

    moved = update(tickets, api, (created.id, {"hs_pipeline": "it", "hs_pipeline_stage": "it_done"}))
    assert moved.results[0].properties["hs_pipeline_stage"] == "it_done"


def test_ticket_type_aliases(emulator, hubspot_client):
    create(tickets, hubspot_client.crm.tickets.batch_api, {"subject": "alias"})
    assert [r["properties"]["subject"] for r in emulator.records("0-5")] == ["alias"]
    assert [r["properties"]["subject"] for r in emulator.records("ticket")] == ["alias"]

"""Object types beyond contacts in the configuration, custom object names, and the match rule
(only a contact's email is compared case-insensitively)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import parse_config
from shared.errors import ConfigurationError
from shared.mapping.field_mapper import match_value
from shared.mapping.object_types import CustomObject, find_custom, unknown_custom

pytestmark = pytest.mark.unit


def one_object(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": "things", "object_type": "companies", "table": "dbo.Things", "key": ["Id"],
        "watermark": {"column": "RowVer", "kind": "integer"}, "id_property": "sql_id",
        "fields": {"sql_id": {"column": "Id", "transform": "string"}, "name": {"column": "Name"}},
    }
    obj.update(changes)
    return {"objects": [obj]}


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigurationError) as err:
        parse_config(data)
    return err.value.problems


@pytest.mark.parametrize("object_type", ["contacts", "companies", "deals", "tickets", "p12345678_cars", "p_cars",
                                         "2-7", "p_Vehicle_2"])
def test_standard_and_custom_object_types_are_accepted(object_type: str) -> None:
    assert parse_config(one_object(object_type=object_type)).objects[0].object_type == object_type


@pytest.mark.parametrize(("object_type", "hint"), [("Companies", "did you mean 'companies'?"),
                                                   ("deal", "did you mean 'deals'?"), ("cars", ""), ("2-x", ""),
                                                   ("p_", ""), ("0-2", "")])
def test_an_unknown_object_type_is_refused_listing_the_accepted_names(object_type: str, hint: str) -> None:
    [problem] = problems_of(one_object(object_type=object_type))
    assert problem.startswith(f"objects[0].object_type: unknown object type {object_type!r}")
    assert hint in problem and "p<portalId>_<name>" in problem and "p_<name>" in problem and "2-<n>" in problem


def test_companies_cannot_be_matched_on_domain_and_the_message_says_why() -> None:
    data = one_object(id_property="domain")
    data["objects"][0]["fields"]["domain"] = {"column": "Domain"}
    [problem] = problems_of(data)
    assert problem.startswith("objects[0].id_property: companies cannot be matched on domain")
    assert "does not keep a domain unique" in problem and "sql_company_id" in problem
    # another object type may have a unique property of that name
    data["objects"][0]["object_type"] = "p_sites"
    assert parse_config(data).objects[0].id_property == "domain"


def deals(**changes: Any) -> dict[str, Any]:
    fields = {"sql_id": {"column": "Id", "transform": "string"}, "dealname": {"column": "Name"},
              "pipeline": {"constant": "Sales Pipeline"}, "dealstage": {"column": "Stage"}}
    return one_object(object_type="deals", fields=fields, **changes)


def test_a_stage_needs_its_pipeline_mapped() -> None:
    data = deals()
    del data["objects"][0]["fields"]["pipeline"]
    [problem] = problems_of(data)
    assert problem.startswith("objects[0].fields: dealstage is mapped without pipeline")
    tickets = one_object(object_type="tickets", fields={"sql_id": {"column": "Id"},
                                                        "hs_pipeline_stage": {"column": "Stage"}})
    [problem] = problems_of(tickets)
    assert "hs_pipeline_stage is mapped without hs_pipeline" in problem


def test_stage_and_pipeline_maps_take_yaml_numbers_as_text() -> None:
    obj = parse_config(deals(stage_map={1: "closedwon", "L": 2}, pipeline_map={"S": "default"})).objects[0]
    assert obj.stage_map == {"1": "closedwon", "L": "2"}
    assert obj.pipeline_map == {"S": "default"}


def test_maps_apply_only_to_pipeline_objects_with_the_property_mapped() -> None:
    [problem] = problems_of(one_object(stage_map={"W": "closedwon"}))
    assert problem == "objects[0].stage_map: only deals and tickets have pipelines, not companies"
    data = deals(pipeline_map={"S": "default"}, stage_map={"W": "closedwon"})
    del data["objects"][0]["fields"]["dealstage"]
    [problem] = problems_of(data)
    assert problem == "objects[0].stage_map: maps values of fields.dealstage, which is not mapped"
    [problem] = problems_of(deals(stage_map={"W": " "}))
    assert problem.startswith("objects[0].stage_map: entry 'W' maps to nothing")


@pytest.mark.parametrize(("object_type", "prop", "value", "expected"), [
    ("contacts", "email", "Jane.Doe@Example.COM", "jane.doe@example.com"),
    ("companies", "email", "Ops@Acme.COM", "Ops@Acme.COM"),
    ("deals", "email", "Ops@Acme.COM", "Ops@Acme.COM"),
    ("p_cars", "email", "A@B.C", "A@B.C"),
    ("contacts", "external_id", "AbC", "AbC"),
    ("companies", "sql_company_id", "AbC", "AbC"),
])
def test_only_a_contacts_email_is_matched_case_insensitively(object_type: str, prop: str, value: str,
                                                             expected: str) -> None:
    assert match_value(object_type, prop, value) == expected


PORTAL = [
    CustomObject.from_api({"objectTypeId": "2-1", "fullyQualifiedName": "p12345678_cars", "name": "cars",
                           "requiredProperties": ["vin"]}),
    CustomObject.from_api({"objectTypeId": "2-2", "fullyQualifiedName": "p12345678_boats", "name": "boats"}),
]


@pytest.mark.parametrize("name", ["p12345678_cars", "p_cars", "2-1"])
def test_a_custom_object_is_found_by_any_of_its_three_names(name: str) -> None:
    found = find_custom(name, PORTAL)
    assert found is not None and found.fully_qualified_name == "p12345678_cars" and found.required == ("vin",)


def test_an_unknown_custom_object_is_explained_with_the_portals_custom_objects() -> None:
    assert find_custom("p_trucks", PORTAL) is None and find_custom("p99_cars", PORTAL) is None
    message = unknown_custom("p_trucks", PORTAL)
    assert "no custom object 'p_trucks'" in message
    assert "p12345678_cars (p_cars, 2-1); p12345678_boats (p_boats, 2-2)" in message
    assert "did you mean 'p12345678_cars'?" in unknown_custom("p99_cars", PORTAL)
    assert "custom objects: none" in unknown_custom("p_cars", [])

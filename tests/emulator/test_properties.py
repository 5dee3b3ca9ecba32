"""Property definitions, parsed by the SDK with client-side validation on."""

from __future__ import annotations

import pytest
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties.models import CollectionResponsePropertyNoPaging, ModelProperty, Option

pytestmark = pytest.mark.emulator


def test_client_side_validation_is_on(hubspot_client):
    api = hubspot_client.crm.properties.core_api
    assert api.api_client.configuration.client_side_validation is True
    assert api.api_client.configuration.host == hubspot_client.config["host"]


def test_contact_properties_parse_into_sdk_models(hubspot_client):
    response = hubspot_client.crm.properties.core_api.get_all("contacts")

    assert isinstance(response, CollectionResponsePropertyNoPaging)
    by_name = {p.name: p for p in response.results}
    assert all(isinstance(p, ModelProperty) for p in response.results)
    expected = {
        "email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle", "city", "country",
        "address", "zip", "website", "lifecyclestage", "hs_lead_status", "date_of_birth", "annualrevenue",
        "hs_object_id", "createdate", "lastmodifieddate", "external_id", "is_vip", "signup_date",
        "last_order_at", "customer_tier",
    }
    assert expected <= set(by_name)

    lifecycle = by_name["lifecyclestage"]
    assert (lifecycle.type, lifecycle.field_type) == ("enumeration", "radio")
    assert [o.value for o in lifecycle.options] == [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
        "opportunity", "customer", "evangelist", "other",
    ]
    assert all(isinstance(o, Option) and o.hidden is False for o in lifecycle.options)
    assert [o.value for o in by_name["hs_lead_status"].options][:3] == ["NEW", "OPEN", "IN_PROGRESS"]

    external_id = by_name["external_id"]
    assert external_id.has_unique_value is True
    assert external_id.hubspot_defined is False
    assert by_name["email"].has_unique_value is False and by_name["email"].hubspot_defined is True

    assert by_name["hs_object_id"].modification_metadata.read_only_value is True
    assert by_name["hs_object_id"].calculated is True
    assert by_name["createdate"].modification_metadata.read_only_value is True
    assert by_name["firstname"].modification_metadata.read_only_value is False
    assert (by_name["phone"].type, by_name["phone"].field_type) == ("string", "phonenumber")
    assert (by_name["last_order_at"].type, by_name["last_order_at"].field_type) == ("datetime", "date")
    assert (by_name["is_vip"].type, by_name["is_vip"].field_type) == ("bool", "booleancheckbox")
    assert {o.value for o in by_name["is_vip"].options} == {"true", "false"}
    assert [o.value for o in by_name["customer_tier"].options] == ["bronze", "silver", "gold"]
    assert by_name["date_of_birth"].type == "date"
    assert by_name["annualrevenue"].type == "number"
    assert all(p.description is not None and p.group_name for p in response.results)


@pytest.mark.parametrize(
    ("object_type", "names"),
    [
        ("companies", {"name", "domain", "industry", "numberofemployees", "external_id", "hs_object_id"}),
        ("deals", {"dealname", "amount", "dealstage", "pipeline", "closedate", "external_id", "createdate"}),
    ],
)
def test_company_and_deal_properties(hubspot_client, object_type, names):
    response = hubspot_client.crm.properties.core_api.get_all(object_type)
    by_name = {p.name: p for p in response.results}
    assert names <= set(by_name)
    assert by_name["external_id"].has_unique_value is True
    if object_type == "deals":
        assert "closedwon" in [o.value for o in by_name["dealstage"].options]
        assert [o.value for o in by_name["pipeline"].options] == ["default"]


def test_get_one_property_by_name(hubspot_client):
    prop = hubspot_client.crm.properties.core_api.get_by_name("contacts", "customer_tier")
    assert isinstance(prop, ModelProperty)
    assert prop.name == "customer_tier"
    assert prop.field_type == "select"


def test_unknown_object_type_and_property_are_404(hubspot_client, parse_error):
    api = hubspot_client.crm.properties.core_api
    with pytest.raises(PropertiesApiException) as unknown_type:
        api.get_all("p_custom")
    assert unknown_type.value.status == 404
    assert parse_error(unknown_type.value).category == "OBJECT_NOT_FOUND"

    with pytest.raises(PropertiesApiException) as unknown_property:
        api.get_by_name("contacts", "no_such_property")
    assert unknown_property.value.status == 404


def test_add_property_creates_a_custom_object_type(emulator, hubspot_client):
    definition = emulator.add_property(
        "p_widgets", {"name": "widget_code", "type": "string", "hasUniqueValue": True}
    )
    assert definition["fieldType"] == "text"
    assert definition["hubspotDefined"] is False
    assert definition["modificationMetadata"] == {
        "archivable": True, "readOnlyDefinition": False, "readOnlyValue": False, "readOnlyOptions": False,
    }

    names = {p.name for p in hubspot_client.crm.properties.core_api.get_all("p_widgets").results}
    assert {"widget_code", "hs_object_id"} <= names

    batch = hubspot_client.crm.objects.batch_api
    response = batch.upsert(
        "p_widgets",
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[SimplePublicObjectBatchInputUpsert(id="W-1", id_property="widget_code", properties={})]
        ),
    )
    assert response.results[0].new is True
    assert emulator.find("p_widgets", "widget_code", "W-1")["id"] == response.results[0].id


def test_add_property_with_options_is_validated_on_write(emulator, upsert_contacts, parse_error):
    emulator.add_property(
        "contacts",
        {"name": "interests", "type": "enumeration", "fieldType": "checkbox", "options": ["golf", "tennis"]},
    )
    created = upsert_contacts([("multi@example.com", {"interests": "golf;tennis"})])
    assert created.results[0].properties["interests"] == "golf;tennis"

    from hubspot.crm.contacts import ApiException

    with pytest.raises(ApiException) as exc:
        upsert_contacts([("multi@example.com", {"interests": "golf;chess"})])
    assert exc.value.status == 400
    assert '"error":"INVALID_OPTION"' in parse_error(exc.value).message


def test_create_property_through_the_sdk(emulator, hubspot_client):
    from hubspot.crm.properties import PropertyCreate

    api = hubspot_client.crm.properties.core_api
    created = api.create("contacts", PropertyCreate(
        name="loyalty_code", label="Loyalty code", type="string", field_type="text",
        group_name="contactinformation", has_unique_value=True,
    ))
    assert isinstance(created, ModelProperty)
    assert created.has_unique_value is True
    assert api.get_by_name("contacts", "loyalty_code").label == "Loyalty code"

    with pytest.raises(PropertiesApiException) as exc:
        api.create("contacts", PropertyCreate(name="loyalty_code", label="Again", type="string",
                                              field_type="text", group_name="contactinformation"))
    assert exc.value.status == 409


def test_multi_select_leading_semicolon_appends(emulator, upsert_contacts):
    emulator.add_property("contacts", {"name": "tags", "type": "enumeration", "fieldType": "checkbox",
                                       "options": ["a", "b", "c"]})
    upsert_contacts([("tags@example.com", {"tags": "a"})])
    upsert_contacts([("tags@example.com", {"tags": ";b;a"})])
    assert emulator.find("contacts", "email", "tags@example.com")["properties"]["tags"] == "a;b"
    upsert_contacts([("tags@example.com", {"tags": "c"})])
    assert emulator.find("contacts", "email", "tags@example.com")["properties"]["tags"] == "c"

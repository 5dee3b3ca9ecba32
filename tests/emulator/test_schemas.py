"""Custom object schemas (GET/POST /crm/v3/schemas) and custom objects through client.crm.objects."""

from __future__ import annotations

import json

import pytest
from hubspot.crm import objects, schemas
from hubspot.crm.schemas.models import CollectionResponseObjectSchemaNoPaging, ObjectSchema

from hubspot_emulator import Emulator

pytestmark = pytest.mark.emulator


def add_cars(emulator: Emulator) -> dict:
    return emulator.add_schema(
        "cars",
        properties=["vin", "model", {"name": "year", "type": "number"}, {"name": "colour", "type": "enumeration",
                                                                        "options": ["red", "blue"]}],
        required=["vin", "model"],
        primary_display="model",
        unique=["vin"],
        labels={"singular": "Car", "plural": "Cars"},
    )


def create(api, object_type, *props, traces=None):
    inputs = [objects.SimplePublicObjectBatchInputForCreate(properties=p) for p in props]
    for item, trace in zip(inputs, traces or [], strict=False):
        item.object_write_trace_id = trace
    return api.create(object_type, objects.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))


def upsert(api, object_type, id_property, *rows):
    return api.upsert(object_type, objects.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        objects.SimplePublicObjectBatchInputUpsert(id=key, id_property=id_property, properties=props)
        for key, props in rows
    ]))


def test_add_schema_returns_the_schema(emulator):
    schema = add_cars(emulator)
    assert schema["objectTypeId"] == "2-1"
    assert schema["fullyQualifiedName"] == "p12345678_cars"
    assert schema["name"] == "cars"
    assert schema["labels"] == {"singular": "Car", "plural": "Cars"}
    assert schema["requiredProperties"] == ["vin", "model"]
    assert schema["primaryDisplayProperty"] == "model"
    assert schema["searchableProperties"] == ["model"]
    by_name = {p["name"]: p for p in schema["properties"]}
    assert by_name["vin"]["hasUniqueValue"] is True
    assert by_name["model"]["hasUniqueValue"] is False
    assert by_name["year"]["type"] == "number"
    assert {"hs_object_id", "hs_createdate", "hs_lastmodifieddate"} <= set(by_name)
    assert emulator.add_schema("boats", properties=["hull"])["objectTypeId"] == "2-2"


def test_schemas_parse_into_sdk_models(emulator, hubspot_client):
    add_cars(emulator)
    api = hubspot_client.crm.schemas.core_api
    response = api.get_all()

    assert isinstance(response, CollectionResponseObjectSchemaNoPaging)
    [schema] = response.results
    assert isinstance(schema, ObjectSchema)
    assert (schema.object_type_id, schema.fully_qualified_name, schema.name) == ("2-1", "p12345678_cars", "cars")
    assert (schema.labels.singular, schema.labels.plural) == ("Car", "Cars")
    assert schema.required_properties == ["vin", "model"]
    assert schema.primary_display_property == "model"
    assert schema.archived is False
    assert {p.name for p in schema.properties} >= {"vin", "model", "year", "colour"}
    assert [o.value for o in next(p for p in schema.properties if p.name == "colour").options] == ["red", "blue"]

    for object_type in ("2-1", "p12345678_cars"):
        assert api.get_by_id(object_type).object_type_id == "2-1"
    with pytest.raises(schemas.ApiException) as exc:
        api.get_by_id("2-99")
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_documented_path_answers_too(emulator, hubspot_client):
    add_cars(emulator)
    listed = hubspot_client.api_request({"method": "GET", "path": "/crm/v3/schemas"}).json()
    assert [s["fullyQualifiedName"] for s in listed["results"]] == ["p12345678_cars"]
    one = hubspot_client.api_request({"method": "GET", "path": "/crm/v3/schemas/p12345678_cars"}).json()
    assert one["objectTypeId"] == "2-1"
    assert emulator.calls[-1] == ("GET", "/crm/v3/schemas/p12345678_cars", 200)


def test_portal_id_is_in_the_fully_qualified_name(emulator_factory, client_factory):
    emu = emulator_factory(portal_id=42)
    emu.add_schema("pets", properties=["pet_name"])
    api = client_factory(emu).crm.schemas.core_api
    assert api.get_by_id("p42_pets").fully_qualified_name == "p42_pets"
    with pytest.raises(schemas.ApiException):
        api.get_by_id("p12345678_pets")


@pytest.mark.parametrize("object_type", ["2-1", "p12345678_cars", "p_cars"])
def test_custom_object_records_through_every_name(emulator, hubspot_client, object_type):
    add_cars(emulator)
    api = hubspot_client.crm.objects.batch_api

    created = create(api, object_type, {"vin": "V1", "model": "Beetle", "year": "1970"})
    assert created.results[0].properties["vin"] == "V1"
    upserted = upsert(api, object_type, "vin", ("V1", {"colour": "red"}), ("V2", {"model": "Golf"}))
    assert [r.new for r in upserted.results] == [False, True]
    assert upserted.results[0].id == created.results[0].id

    read = api.read(object_type, objects.BatchReadInputSimplePublicObjectId(
        inputs=[objects.SimplePublicObjectId(id="V2")], id_property="vin", properties=["model", "vin"]
    ))
    assert read.results[0].properties["model"] == "Golf"

    records = emulator.records("p_cars")
    assert [(r["properties"]["vin"], r["properties"]["model"]) for r in records] == [("V1", "Beetle"), ("V2", "Golf")]
    assert records[0]["properties"]["colour"] == "red"
    assert emulator.records("2-1") == records == emulator.records("p12345678_cars")


def test_custom_object_properties_endpoint_accepts_every_name(emulator, hubspot_client):
    add_cars(emulator)
    api = hubspot_client.crm.properties.core_api
    for object_type in ("2-1", "p12345678_cars", "p_cars"):
        assert api.get_by_name(object_type, "vin").has_unique_value is True


def test_required_properties_are_enforced_on_create(emulator, hubspot_client):
    add_cars(emulator)
    api = hubspot_client.crm.objects.batch_api

    with pytest.raises(objects.ApiException) as exc:
        create(api, "2-1", {"vin": "V1", "model": "Beetle"}, {"vin": "V2"})
    assert exc.value.status == 400
    body = json.loads(exc.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == "Error creating CARS. Some required properties were not set."
    assert body["context"] == {"properties": ["model"]}
    assert emulator.records("p_cars") == []

    with pytest.raises(objects.ApiException) as upsert_exc:  # upsert that would create
        upsert(api, "2-1", "vin", ("V3", {"year": "2000"}))
    assert json.loads(upsert_exc.value.body)["context"] == {"properties": ["model"]}

    upsert(api, "2-1", "vin", ("V3", {"model": "Polo"}))
    assert upsert(api, "2-1", "vin", ("V3", {"year": "2001"})).results[0].new is False  # updates need not


def test_required_properties_with_trace_ids_give_207(emulator, hubspot_client):
    add_cars(emulator)
    response = create(hubspot_client.crm.objects.batch_api, "2-1", {"vin": "V1", "model": "Beetle"}, {"vin": "V2"},
                      traces=["t1", "t2"])
    assert isinstance(response, objects.BatchResponseSimplePublicObjectWithErrors)
    assert [r.properties["vin"] for r in response.results] == ["V1"]
    [error] = response.errors
    assert error.category == "VALIDATION_ERROR"
    assert error.context == {"objectWriteTraceId": ["t2"], "properties": ["model"]}


def test_add_property_p_name_still_creates_a_custom_object(emulator, hubspot_client):
    emulator.add_property("p_widgets", {"name": "widget_code", "type": "string", "hasUniqueValue": True})
    [schema] = hubspot_client.crm.schemas.core_api.get_all().results
    assert (schema.name, schema.object_type_id, schema.fully_qualified_name) == ("widgets", "2-1", "p12345678_widgets")
    assert "widget_code" in {p.name for p in schema.properties}
    emulator.add_property("2-1", {"name": "size", "type": "number"})
    assert "size" in {p.name for p in hubspot_client.crm.schemas.core_api.get_by_id("p_widgets").properties}


def test_bad_schemas_are_refused(emulator):
    with pytest.raises(ValueError, match="starts with a letter"):
        emulator.add_schema("1cars")
    with pytest.raises(ValueError, match="required names properties"):
        emulator.add_schema("cars", properties=["vin"], required=["model"])
    with pytest.raises(ValueError, match="primary_display"):
        emulator.add_schema("cars", properties=["vin"], primary_display="model")
    add_cars(emulator)
    with pytest.raises(ValueError, match="already exists"):
        add_cars(emulator)
    with pytest.raises(ValueError, match="unknown object type 'widgets'"):
        emulator.add_property("widgets", {"name": "x"})
    assert [s["name"] for s in emulator.store.list_schemas()["results"]] == ["cars"]


def test_create_schema_through_the_sdk(emulator, hubspot_client):
    egg = schemas.ObjectSchemaEgg(
        name="projects",
        labels=schemas.ObjectTypeDefinitionLabels(singular="Project", plural="Projects"),
        required_properties=["code"],
        primary_display_property="title",
        associated_objects=["CONTACT"],
        properties=[
            schemas.ObjectTypePropertyCreate(name="code", label="Code", type="string", field_type="text",
                                             has_unique_value=True),
            schemas.ObjectTypePropertyCreate(name="title", label="Title", type="string", field_type="text"),
        ],
    )
    api = hubspot_client.crm.schemas.core_api
    created = api.create(egg)
    assert isinstance(created, ObjectSchema)
    assert (created.object_type_id, created.fully_qualified_name) == ("2-1", "p12345678_projects")
    assert created.required_properties == ["code"]
    assert next(p for p in created.properties if p.name == "code").has_unique_value is True

    with pytest.raises(schemas.ApiException) as exc:
        api.create(egg)
    assert exc.value.status == 409


def test_schemas_and_records_persist(tmp_path, emulator_factory, client_factory):
    data_file = str(tmp_path / "portal.json")
    first = emulator_factory(data_file=data_file)
    add_cars(first)
    create(client_factory(first).crm.objects.batch_api, "2-1", {"vin": "V1", "model": "Beetle"})
    first.stop()

    second = emulator_factory(data_file=data_file)
    client = client_factory(second)
    assert client.crm.schemas.core_api.get_by_id("p12345678_cars").object_type_id == "2-1"
    assert upsert(client.crm.objects.batch_api, "2-1", "vin", ("V1", {"year": "1971"})).results[0].new is False
    assert second.add_schema("boats", properties=["hull"])["objectTypeId"] == "2-2"

"""CRM v4 associations through client.crm.associations.v4 (batch_api and schema.definitions_api)."""

from __future__ import annotations

import json

import pytest
from hubspot.crm import contacts, objects, schemas
from hubspot.crm.associations import v4
from hubspot.crm.associations.v4 import schema as v4_schema

pytestmark = pytest.mark.emulator

HUBSPOT = "HUBSPOT_DEFINED"
USER = "USER_DEFINED"


def make(client, object_type: str, *props: dict[str, str]) -> list[str]:
    """Create records through the SDK; returns their ids."""
    response = client.crm.objects.batch_api.create(object_type, objects.BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[objects.SimplePublicObjectBatchInputForCreate(properties=p) for p in props]
    ))
    return [r.id for r in response.results]


def post(from_id: str, to_id: str, *types: tuple[str, int]):
    return v4.PublicAssociationMultiPost(
        _from=v4.PublicObjectId(id=from_id), to=v4.PublicObjectId(id=to_id),
        types=[v4.AssociationSpec(association_category=c, association_type_id=t) for c, t in types],
    )


def create(api, from_type, to_type, *inputs):
    return api.create(from_type, to_type, v4.BatchInputPublicAssociationMultiPost(inputs=list(inputs)))


def read(api, from_type, to_type, *ids):
    return api.get_page(from_type, to_type, v4.BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[v4.PublicFetchAssociationsBatchRequest(id=i) for i in ids]
    ))


def as_pairs(response) -> dict[str, list[tuple[str, list[int]]]]:
    """``{from id: [(to id, [type ids])]}`` of a batch/read answer."""
    return {r._from.id: [(t.to_object_id, [a.type_id for a in t.association_types]) for t in r.to]
            for r in response.results}


@pytest.fixture
def api(hubspot_client):
    return hubspot_client.crm.associations.v4.batch_api


@pytest.fixture
def people(hubspot_client):
    """Two contacts, two companies and a deal: ``{"contacts": [...], "companies": [...], "deals": [...]}``."""
    return {
        "contacts": make(hubspot_client, "contacts", {"email": "a@example.com"}, {"email": "b@example.com"}),
        "companies": make(hubspot_client, "companies", {"name": "Acme"}, {"name": "Globex"}),
        "deals": make(hubspot_client, "deals", {"dealname": "Big"}),
    }


# ---------------------------------------------------------------- labels
def test_hubspot_defined_labels(hubspot_client):
    api = hubspot_client.crm.associations.v4.schema.definitions_api
    response = api.get_all("contacts", "companies")
    assert isinstance(response, v4_schema.CollectionResponseAssociationSpecWithLabelNoPaging)
    assert [(r.category, r.type_id, r.label) for r in response.results] == [(HUBSPOT, 1, "Primary"), (HUBSPOT, 279, None)]

    expected = {
        ("companies", "contacts"): [2, 280],
        ("contacts", "deals"): [4],
        ("deals", "contacts"): [3],
        ("deals", "companies"): [5, 341],
        ("companies", "deals"): [6, 342],
        ("contacts", "tickets"): [15],
        ("tickets", "contacts"): [16],
        ("tickets", "companies"): [26, 339],
        ("companies", "tickets"): [25, 340],
        ("deals", "tickets"): [27],
        ("tickets", "deals"): [28],
    }
    for (from_type, to_type), ids in expected.items():
        assert [r.type_id for r in api.get_all(from_type, to_type).results] == ids, (from_type, to_type)
    assert [r.type_id for r in api.get_all("0-1", "0-2").results] == [1, 279]


def test_user_defined_labels(emulator, hubspot_client):
    api = hubspot_client.crm.associations.v4.schema.definitions_api
    decision = emulator.add_association_label("contacts", "deals", "Decision maker")
    assert decision == {"category": USER, "typeId": 1000, "label": "Decision maker"}
    paired = emulator.add_association_label("contacts", "companies", "Employee", type_id=77, inverse_label="Employer")
    assert paired == {"category": USER, "typeId": 77, "label": "Employee"}

    assert [(r.category, r.type_id, r.label) for r in api.get_all("contacts", "deals").results] == [
        (HUBSPOT, 4, None), (USER, 1000, "Decision maker"),
    ]
    # an unpaired label: the same id and label seen from the deal
    from_deal = [(r.category, r.type_id, r.label) for r in api.get_all("deals", "contacts").results]
    assert from_deal == [(HUBSPOT, 3, None), (USER, 1000, "Decision maker")]
    # a paired label: the other direction has its own id and label
    back = {r.label: r.type_id for r in api.get_all("companies", "contacts").results}
    assert back["Employer"] not in (77, 2, 280)
    with pytest.raises(ValueError, match="already in use"):
        emulator.add_association_label("contacts", "deals", "Again", type_id=77)

    created = api.create("deals", "companies", v4_schema.PublicAssociationDefinitionCreateRequest(
        label="Reseller", name="reseller"))
    [spec] = created.results
    assert (spec.category, spec.label) == (USER, "Reseller")
    assert spec.type_id in [r.type_id for r in api.get_all("deals", "companies").results]


def test_labels_of_an_unknown_type_are_404(hubspot_client):
    with pytest.raises(v4_schema.ApiException) as exc:
        hubspot_client.crm.associations.v4.schema.definitions_api.get_all("contacts", "widgets")
    assert exc.value.status == 404


# ---------------------------------------------------------------- batch/create and batch/read
def test_create_then_read_from_both_sides(emulator, api, people):
    c1, c2 = people["contacts"]
    acme, globex = people["companies"]
    response = create(api, "contacts", "companies", post(c1, acme, (HUBSPOT, 279)), post(c2, acme, (HUBSPOT, 1)))

    assert isinstance(response, v4.BatchResponseLabelsBetweenObjectPair)
    assert [(r.from_object_type_id, r.from_object_id, r.to_object_type_id, r.to_object_id, r.labels)
            for r in response.results] == [("0-1", c1, "0-2", acme, []), ("0-1", c2, "0-2", acme, ["Primary"])]

    # a labelled association brings the pair's default type along
    assert emulator.associations("contacts", "companies") == [(c1, acme, 279), (c2, acme, 1), (c2, acme, 279)]
    assert emulator.associations("companies", "contacts") == [(acme, c1, 280), (acme, c2, 2), (acme, c2, 280)]

    forward = read(api, "contacts", "companies", c1, c2)
    assert isinstance(forward, v4.BatchResponsePublicAssociationMultiWithLabel)
    assert as_pairs(forward) == {c1: [(acme, [279])], c2: [(acme, [1, 279])]}
    labels = [(a.category, a.type_id, a.label) for a in forward.results[1].to[0].association_types]
    assert labels == [(HUBSPOT, 1, "Primary"), (HUBSPOT, 279, None)]

    backward = read(api, "companies", "contacts", acme)
    assert as_pairs(backward) == {acme: [(c1, [280]), (c2, [2, 280])]}

    # globex has none: HubSpot answers 207 with NO_ASSOCIATIONS_FOUND
    partial = read(api, "companies", "contacts", acme, globex)
    assert isinstance(partial, v4.BatchResponsePublicAssociationMultiWithLabelWithErrors)
    assert list(as_pairs(partial)) == [acme]
    [error] = partial.errors
    assert (error.status, error.category) == ("error", "OBJECT_NOT_FOUND")
    assert error.sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error.message == f"No contact is associated with company {globex}."
    assert error.context == {"fromObjectId": [globex], "fromObjectType": ["company"], "toObjectType": ["contact"]}
    assert partial.num_errors == 1


def test_wire_ids_are_numbers_like_hubspots(emulator, hubspot_client, people):
    c1 = people["contacts"][0]
    acme = people["companies"][0]
    created = hubspot_client.api_request({
        "method": "POST", "path": "/crm/v4/associations/contacts/companies/batch/create",
        "body": {"inputs": [{"from": {"id": c1}, "to": {"id": acme},
                             "types": [{"associationCategory": HUBSPOT, "associationTypeId": 279}]}]},
    })
    assert created.status_code == 201
    assert created.json()["results"][0]["toObjectId"] == int(acme)
    answer = hubspot_client.api_request({
        "method": "POST", "path": "/crm/v4/associations/contacts/companies/batch/read",
        "body": {"inputs": [{"id": c1}]},
    }).json()
    assert answer["results"][0]["from"] == {"id": c1}
    assert answer["results"][0]["to"][0]["toObjectId"] == int(acme)


def test_create_is_idempotent(emulator, api, people):
    c1 = people["contacts"][0]
    deal = people["deals"][0]
    for _ in range(3):
        create(api, "contacts", "deals", post(c1, deal, (HUBSPOT, 4)))
    assert emulator.associations("contacts", "deals") == [(c1, deal, 4)]
    assert emulator.associations("deals", "contacts") == [(deal, c1, 3)]


def test_create_with_unknown_ids_is_207_per_input(emulator, api, people):
    c1 = people["contacts"][0]
    acme = people["companies"][0]
    response = create(api, "contacts", "companies",
                      post(c1, acme, (HUBSPOT, 279)), post("999", acme, (HUBSPOT, 279)), post(c1, "998", (HUBSPOT, 279)))
    assert isinstance(response, v4.BatchResponseLabelsBetweenObjectPairWithErrors)
    assert [(r.from_object_id, r.to_object_id) for r in response.results] == [(c1, acme)]
    assert response.num_errors == 2
    assert [(e.category, e.context["fromObjectId" if "fromObjectId" in e.context else "toObjectId"])
            for e in response.errors] == [("OBJECT_NOT_FOUND", ["999"]), ("OBJECT_NOT_FOUND", ["998"])]
    assert response.errors[0].message == "No contact with id 999 exists."
    assert emulator.associations("contacts", "companies") == [(c1, acme, 279)]


@pytest.mark.parametrize(("category", "type_id"), [(HUBSPOT, 4), (HUBSPOT, 280), (USER, 279), (HUBSPOT, 123456)])
def test_create_with_a_type_id_not_of_the_pair_is_400(emulator, api, people, category, type_id):
    c1 = people["contacts"][0]
    acme = people["companies"][0]
    with pytest.raises(v4.ApiException) as exc:
        create(api, "contacts", "companies", post(c1, acme, (HUBSPOT, 279)), post(c1, acme, (category, type_id)))
    assert exc.value.status == 400
    body = json.loads(exc.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert f"associationTypeId {type_id} ({category})" in body["message"]
    assert body["context"]["associationTypeId"] == [str(type_id)]
    assert emulator.associations("contacts", "companies") == []  # nothing of the batch was written


def test_unknown_object_type_is_404(api, people):
    with pytest.raises(v4.ApiException) as exc:
        create(api, "contacts", "widgets", post(people["contacts"][0], "1", (HUBSPOT, 279)))
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_input_limits(emulator, api, people):
    c1 = people["contacts"][0]
    acme = people["companies"][0]
    with pytest.raises(v4.ApiException) as too_many_creates:
        create(api, "contacts", "companies", *[post(c1, acme, (HUBSPOT, 279))] * 2001)
    assert too_many_creates.value.status == 400
    assert "exceeds the maximum of 2000" in json.loads(too_many_creates.value.body)["message"]

    with pytest.raises(v4.ApiException) as too_many_defaults:
        api.create_default("contacts", "companies", v4.BatchInputPublicDefaultAssociationMultiPost(inputs=[
            v4.PublicDefaultAssociationMultiPost(_from=v4.PublicObjectId(id=c1), to=v4.PublicObjectId(id=acme))
        ] * 2001))
    assert too_many_defaults.value.status == 400

    with pytest.raises(v4.ApiException) as too_many_reads:
        read(api, "contacts", "companies", *[str(i) for i in range(1001)])
    assert too_many_reads.value.status == 400
    assert "exceeds the maximum of 1000" in json.loads(too_many_reads.value.body)["message"]

    create(api, "contacts", "companies", *[post(c1, acme, (HUBSPOT, 279))] * 2000)  # the limit itself is fine
    assert len(read(api, "contacts", "companies", *[c1] * 1000).results) == 1
    assert emulator.associations("contacts", "companies") == [(c1, acme, 279)]


# ---------------------------------------------------------------- batch/associate/default
def test_associate_default(emulator, api, people):
    deal = people["deals"][0]
    acme = people["companies"][0]
    response, status, _ = api.create_default_with_http_info(
        "deals", "companies", v4.BatchInputPublicDefaultAssociationMultiPost(inputs=[
            v4.PublicDefaultAssociationMultiPost(_from=v4.PublicObjectId(id=deal), to=v4.PublicObjectId(id=acme)),
            v4.PublicDefaultAssociationMultiPost(_from=v4.PublicObjectId(id=deal), to=v4.PublicObjectId(id="404")),
        ]))
    assert status == 200
    assert isinstance(response, v4.BatchResponsePublicDefaultAssociation)
    assert [(r._from.id, r.to.id, r.association_spec.association_category, r.association_spec.association_type_id)
            for r in response.results] == [(deal, acme, HUBSPOT, 341), (acme, deal, HUBSPOT, 342)]
    assert response.num_errors == 1
    assert response.errors[0].context["toObjectId"] == ["404"]
    assert emulator.associations("deals", "companies") == [(deal, acme, 341)]
    assert emulator.associations("companies", "deals") == [(acme, deal, 342)]


def test_python_associate(emulator, api, people):
    c1, c2 = people["contacts"]
    acme = people["companies"][0]
    emulator.associate("contacts", c1, "companies", acme)
    emulator.associate("0-1", c2, "0-2", acme, type_id=1)
    assert emulator.associations("companies", "contacts") == [(acme, c1, 280), (acme, c2, 2), (acme, c2, 280)]
    assert as_pairs(read(api, "contacts", "companies", c2)) == {c2: [(acme, [1, 279])]}
    with pytest.raises(ValueError, match="no contacts record 999"):
        emulator.associate("contacts", "999", "companies", acme)
    with pytest.raises(ValueError, match="no association type 341"):
        emulator.associate("contacts", c1, "companies", acme, type_id=341)


# ---------------------------------------------------------------- archive
def test_archive_removes_every_type_from_either_side(emulator, api, people):
    c1, c2 = people["contacts"]
    acme = people["companies"][0]
    create(api, "contacts", "companies", post(c1, acme, (HUBSPOT, 1)), post(c2, acme, (HUBSPOT, 279)))

    _, status, _ = api.archive_with_http_info("companies", "contacts", v4.BatchInputPublicAssociationMultiArchive(
        inputs=[v4.PublicAssociationMultiArchive(_from=v4.PublicObjectId(id=acme), to=[v4.PublicObjectId(id=c1)])]
    ))
    assert status == 204
    assert emulator.associations("contacts", "companies") == [(c2, acme, 279)]
    assert emulator.associations("companies", "contacts") == [(acme, c2, 280)]


def test_labels_archive_removes_only_the_given_types(emulator, api, people):
    c1 = people["contacts"][0]
    acme = people["companies"][0]
    create(api, "contacts", "companies", post(c1, acme, (HUBSPOT, 1)))

    _, status, _ = api.archive_labels_with_http_info(
        "contacts", "companies", v4.BatchInputPublicAssociationMultiPost(inputs=[post(c1, acme, (HUBSPOT, 1))]))
    assert status == 204
    assert emulator.associations("contacts", "companies") == [(c1, acme, 279)]
    assert emulator.associations("companies", "contacts") == [(acme, c1, 280)]

    with pytest.raises(v4.ApiException) as exc:
        api.archive_labels("contacts", "companies",
                           v4.BatchInputPublicAssociationMultiPost(inputs=[post(c1, acme, (HUBSPOT, 5))]))
    assert exc.value.status == 400
    assert emulator.associations("contacts", "companies") == [(c1, acme, 279)]


def test_archiving_a_record_forgets_its_associations(emulator, hubspot_client, api, people):
    c1, c2 = people["contacts"]
    acme = people["companies"][0]
    create(api, "contacts", "companies", post(c1, acme, (HUBSPOT, 279)), post(c2, acme, (HUBSPOT, 279)))
    hubspot_client.crm.objects.batch_api.archive("contacts", objects.BatchInputSimplePublicObjectId(
        inputs=[objects.SimplePublicObjectId(id=c1)]))
    assert emulator.associations("companies", "contacts") == [(acme, c2, 280)]
    assert isinstance(read(api, "contacts", "companies", c1), v4.BatchResponsePublicAssociationMultiWithLabelWithErrors)


# ---------------------------------------------------------------- custom objects
def test_custom_object_associations(emulator, hubspot_client, api, people):
    schema = emulator.add_schema("cars", properties=["vin"], required=["vin"], unique=["vin"])
    labels = hubspot_client.crm.associations.v4.schema.definitions_api
    [forward] = labels.get_all("2-1", "contacts").results
    [backward] = labels.get_all("contacts", "p12345678_cars").results
    assert (forward.category, forward.label) == (USER, None)
    assert (backward.category, backward.label) == (USER, None)
    assert forward.type_id != backward.type_id
    assert {a["toObjectTypeId"] for a in schema["associations"]} == {"0-1", "0-2", "0-3", "0-5"}
    assert {a["fromObjectTypeId"] for a in schema["associations"]} == {"2-1"}

    [car] = make(hubspot_client, "2-1", {"vin": "V1"})
    c1 = people["contacts"][0]
    create(api, "p_cars", "contacts", post(car, c1, (USER, forward.type_id)))
    assert emulator.associations("contacts", "2-1") == [(c1, car, backward.type_id)]
    assert as_pairs(read(api, "contacts", "p12345678_cars", c1)) == {c1: [(car, [backward.type_id])]}

    emulator.add_schema("boats", properties=["hull"], associated_objects=[])
    assert labels.get_all("p_boats", "contacts").results == []
    [boat] = make(hubspot_client, "p_boats", {"hull": "H1"})
    with pytest.raises(v4.ApiException) as exc:  # boats are associated with nothing
        create(api, "p_boats", "contacts", post(boat, c1, (USER, forward.type_id)))
    assert exc.value.status == 400


def test_schema_associated_objects_through_the_sdk(emulator, hubspot_client):
    emulator.add_schema("cars", properties=["vin"])
    created = hubspot_client.crm.schemas.core_api.create(schemas.ObjectSchemaEgg(
        name="drivers", labels=schemas.ObjectTypeDefinitionLabels(singular="Driver", plural="Drivers"),
        required_properties=[], associated_objects=["CONTACT", "2-1"], properties=[],
    ))
    assert sorted(a.to_object_type_id for a in created.associations) == ["0-1", "2-1"]


# ---------------------------------------------------------------- associations on create (v3 objects)
def test_associations_on_batch_create(emulator, hubspot_client, people):
    acme = people["companies"][0]
    response = hubspot_client.crm.contacts.batch_api.create(contacts.BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[contacts.SimplePublicObjectBatchInputForCreate(
            properties={"email": "new@example.com"},
            associations=[contacts.PublicAssociationsForObject(
                to=contacts.PublicObjectId(id=acme),
                types=[contacts.AssociationSpec(association_category=HUBSPOT, association_type_id=1)],
            )],
        )]
    ))
    new_id = response.results[0].id
    assert emulator.associations("companies", "contacts") == [(acme, new_id, 2), (acme, new_id, 280)]

    with pytest.raises(contacts.ApiException) as exc:
        hubspot_client.crm.contacts.batch_api.create(contacts.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[contacts.SimplePublicObjectBatchInputForCreate(
                properties={"email": "ghost@example.com"},
                associations=[contacts.PublicAssociationsForObject(
                    to=contacts.PublicObjectId(id="999"),
                    types=[contacts.AssociationSpec(association_category=HUBSPOT, association_type_id=279)],
                )],
            )]
        ))
    assert exc.value.status == 400
    assert "999" in json.loads(exc.value.body)["message"]
    assert emulator.find("contacts", "email", "ghost@example.com") is None


# ---------------------------------------------------------------- counting, limits and faults
def test_association_calls_are_counted_apart(emulator, api, people):
    c1 = people["contacts"][0]
    acme = people["companies"][0]
    create(api, "contacts", "companies", post(c1, acme, (HUBSPOT, 279)))
    read(api, "contacts", "companies", c1, "12345")

    assert emulator.calls_of("associations") == [
        ("POST", "/crm/v4/associations/contacts/companies/batch/create", 201),
        ("POST", "/crm/v4/associations/contacts/companies/batch/read", 207),
    ]
    stats = emulator.stats()
    assert stats["calls_by_kind"]["associations"] == {"201": 1, "207": 1}
    assert stats["calls_by_kind"]["objects"] == {"201": 3}  # the fixture's three creates


def test_rate_limit_and_faults_apply_to_v4(emulator_factory, client_factory):
    emu = emulator_factory(rate_limit_per_10s=2)
    api = client_factory(emu).crm.associations.v4.batch_api
    for _ in range(2):
        assert read(api, "contacts", "companies", "1").num_errors == 1
    with pytest.raises(v4.ApiException) as limited:
        read(api, "contacts", "companies", "1")
    assert limited.value.status == 429
    assert json.loads(limited.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"

    emu = emulator_factory()
    api = client_factory(emu).crm.associations.v4.batch_api
    emu.inject_fault(423, path_contains="/crm/v4/associations/")
    with pytest.raises(v4.ApiException) as locked:
        read(api, "contacts", "companies", "1")
    assert locked.value.status == 423
    assert emu.calls == [("POST", "/crm/v4/associations/contacts/companies/batch/read", 423)]


def test_associations_persist_and_reset_clears_them(tmp_path, emulator_factory, client_factory):
    data_file = str(tmp_path / "portal.json")
    first = emulator_factory(data_file=data_file)
    client = client_factory(first)
    [c1] = make(client, "contacts", {"email": "p@example.com"})
    [acme] = make(client, "companies", {"name": "Acme"})
    first.add_association_label("contacts", "companies", "Billing contact")
    create(client.crm.associations.v4.batch_api, "contacts", "companies", post(c1, acme, (USER, 1000)))
    first.stop()

    second = emulator_factory(data_file=data_file)
    assert second.associations("companies", "contacts") == [(acme, c1, 280), (acme, c1, 1000)]
    labels = client_factory(second).crm.associations.v4.schema.definitions_api.get_all("contacts", "companies")
    assert "Billing contact" in [r.label for r in labels.results]
    second.reset()
    assert second.associations("contacts", "companies") == []

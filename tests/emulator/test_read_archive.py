"""batch/read, GET by id, batch/archive."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import NotFoundException

pytestmark = pytest.mark.emulator


def read(batch, ids, properties, id_property=None):
    return batch.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids],
        properties=properties,
        properties_with_history=[],
        id_property=id_property,
    ))


@pytest.fixture
def two_contacts(upsert_contacts):
    response = upsert_contacts([
        ("r1@example.com", {"firstname": "R1", "city": "Rome", "external_id": "E1"}),
        ("r2@example.com", {"firstname": "R2", "city": "Oslo", "external_id": "E2"}),
    ])
    return [r.id for r in response.results]


def test_batch_read_by_id_returns_requested_properties_only(contacts_batch, two_contacts):
    response = read(contacts_batch, two_contacts, ["firstname"])

    assert isinstance(response, BatchResponseSimplePublicObject)
    assert [r.id for r in response.results] == two_contacts
    props = response.results[0].properties
    assert set(props) == {"firstname", "hs_object_id", "createdate", "lastmodifieddate"}
    assert props["firstname"] == "R1"


def test_batch_read_by_id_property_with_a_missing_one_is_207(contacts_batch, two_contacts):
    response = read(contacts_batch, ["R2@example.com", "ghost@example.com"], ["city", "jobtitle"], "email")

    assert isinstance(response, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in response.results] == [two_contacts[1]]
    assert response.results[0].properties["city"] == "Oslo"
    assert response.results[0].properties["jobtitle"] is None  # requested but unset
    assert response.num_errors == 1
    assert response.errors[0].category == "OBJECT_NOT_FOUND"
    assert response.errors[0].context["ids"] == ["ghost@example.com"]


def test_batch_read_by_custom_unique_property(contacts_batch, two_contacts):
    response = read(contacts_batch, ["E1"], ["external_id"], "external_id")
    assert [r.id for r in response.results] == [two_contacts[0]]


def test_get_by_id_and_by_id_property(hubspot_client, two_contacts):
    api = hubspot_client.crm.contacts.basic_api
    contact = api.get_by_id(two_contacts[0], properties=["city", "email"])
    assert contact.properties["city"] == "Rome"
    by_email = api.get_by_id("r2@example.com", id_property="email")
    assert by_email.id == two_contacts[1]
    assert by_email.properties["email"] == "r2@example.com"  # default properties include email
    with pytest.raises(NotFoundException) as exc:
        api.get_by_id("424242")
    assert exc.value.status == 404


def test_archive_removes_records_from_reads(emulator, hubspot_client, contacts_batch, two_contacts):
    data, status, _ = contacts_batch.archive_with_http_info(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=two_contacts[0])])
    )
    assert status == 204
    assert data is None
    assert [r["id"] for r in emulator.records("contacts")] == [two_contacts[1]]
    assert emulator.get_record("contacts", two_contacts[0]) is None
    archived = emulator.get_record("contacts", two_contacts[0], include_archived=True)
    assert archived["archived"] is True

    response = read(contacts_batch, two_contacts, ["email"])
    assert isinstance(response, BatchResponseSimplePublicObjectWithErrors)
    assert response.errors[0].context["ids"] == [two_contacts[0]]
    with pytest.raises(NotFoundException):
        hubspot_client.crm.contacts.basic_api.get_by_id(two_contacts[0])

    # The archived contact's email is free again.
    assert emulator.find("contacts", "email", "r1@example.com") is None


def test_single_object_endpoints(emulator, hubspot_client):
    api = hubspot_client.crm.contacts.basic_api
    created = api.create(SimplePublicObjectInputForCreate(properties={"email": "single@example.com"}))
    assert created.properties["email"] == "single@example.com"
    updated = api.update(created.id, SimplePublicObjectInput(properties={"lastname": "One"}))
    assert updated.properties["lastname"] == "One"
    page = api.get_page(limit=10, properties=["lastname"])
    assert [r.id for r in page.results] == [created.id]
    api.archive(created.id)
    assert emulator.records("contacts") == []
    with pytest.raises(ApiException) as exc:
        api.update(created.id, SimplePublicObjectInput(properties={"lastname": "Two"}))
    assert exc.value.status == 404


def test_list_pages_through_records(hubspot_client, upsert_contacts):
    upsert_contacts([(f"p{i}@example.com", {}) for i in range(5)])
    api = hubspot_client.crm.contacts.basic_api
    first = api.get_page(limit=3)
    assert len(first.results) == 3
    second = api.get_page(limit=3, after=first.paging.next.after)
    assert len(second.results) == 2
    assert second.paging is None
    assert len({r.id for r in first.results + second.results}) == 5

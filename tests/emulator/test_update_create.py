"""batch/update (207 for unknown ids, 409 for stolen unique values) and batch/create."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.contacts.models import StandardError

pytestmark = pytest.mark.emulator


def update(batch, *inputs):
    return batch.update(BatchInputSimplePublicObjectBatchInput(inputs=list(inputs)))


def create(batch, *inputs):
    return batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=list(inputs)))


def test_update_by_id(emulator, contacts_batch, upsert_contacts):
    contact_id = upsert_contacts([("u@example.com", {"firstname": "Old"})]).results[0].id

    response = update(contacts_batch, SimplePublicObjectBatchInput(id=contact_id, properties={"firstname": "New"}))

    assert isinstance(response, BatchResponseSimplePublicObject)
    assert response.status == "COMPLETE"
    assert response.results[0].id == contact_id
    assert response.results[0].properties["firstname"] == "New"
    assert emulator.get_record("contacts", contact_id)["properties"]["firstname"] == "New"


def test_update_with_a_missing_id_is_207_not_an_exception(emulator, contacts_batch, upsert_contacts):
    contact_id = upsert_contacts([("exists@example.com", {})]).results[0].id

    response = update(
        contacts_batch,
        SimplePublicObjectBatchInput(id=contact_id, properties={"jobtitle": "CTO"}),
        SimplePublicObjectBatchInput(id="999999", properties={"jobtitle": "CEO"}),
    )

    assert isinstance(response, BatchResponseSimplePublicObjectWithErrors)
    assert response.num_errors == 1
    [error] = response.errors
    assert isinstance(error, StandardError)
    assert error.status == "error"
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.context == {"ids": ["999999"]}
    assert [r.id for r in response.results] == [contact_id]
    assert emulator.get_record("contacts", contact_id)["properties"]["jobtitle"] == "CTO"
    assert len(emulator.records("contacts")) == 1


def test_changing_email_keeps_the_same_record(emulator, contacts_batch, upsert_contacts):
    contact_id = upsert_contacts([("before@example.com", {"firstname": "Same"})]).results[0].id

    response = update(contacts_batch, SimplePublicObjectBatchInput(id=contact_id,
                                                                  properties={"email": "After@Example.com"}))

    assert response.results[0].id == contact_id
    assert emulator.find("contacts", "email", "after@example.com")["id"] == contact_id
    assert emulator.find("contacts", "email", "before@example.com") is None
    assert len(emulator.records("contacts")) == 1
    # The old email is free again; upserting it creates a second contact.
    assert upsert_contacts([("before@example.com", {})]).results[0].new is True


def test_changing_email_to_another_contacts_email_is_409(emulator, contacts_batch, upsert_contacts, parse_error):
    first, second = upsert_contacts([("first@example.com", {}), ("second@example.com", {})]).results

    with pytest.raises(ApiException) as exc:
        update(contacts_batch, SimplePublicObjectBatchInput(id=second.id, properties={"email": "FIRST@example.com"}))

    assert exc.value.status == 409
    error = parse_error(exc.value)
    assert error.category == "CONFLICT"
    assert f"Existing ID: {first.id}" in error.message
    assert emulator.get_record("contacts", second.id)["properties"]["email"] == "second@example.com"


def test_update_by_unique_id_property(emulator, contacts_batch, upsert_contacts):
    contact_id = upsert_contacts([("ext@example.com", {"external_id": "X-9"})]).results[0].id
    response = update(
        contacts_batch,
        SimplePublicObjectBatchInput(id="X-9", id_property="external_id", properties={"city": "Oslo"}),
    )
    assert response.results[0].id == contact_id
    assert emulator.get_record("contacts", contact_id)["properties"]["city"] == "Oslo"


def test_update_keyed_by_email_is_refused(contacts_batch, upsert_contacts, parse_error):
    upsert_contacts([("key@example.com", {})])
    with pytest.raises(ApiException) as exc:
        update(contacts_batch, SimplePublicObjectBatchInput(id="key@example.com", id_property="email",
                                                            properties={"city": "Oslo"}))
    assert exc.value.status == 400
    assert parse_error(exc.value).category == "VALIDATION_ERROR"


def test_update_duplicate_ids_is_400(emulator, contacts_batch, upsert_contacts, parse_error):
    contact_id = upsert_contacts([("d@example.com", {"city": "A"})]).results[0].id
    with pytest.raises(ApiException) as exc:
        update(
            contacts_batch,
            SimplePublicObjectBatchInput(id=contact_id, properties={"city": "B"}),
            SimplePublicObjectBatchInput(id=contact_id, properties={"city": "C"}),
        )
    assert exc.value.status == 400
    assert "Duplicate IDs" in parse_error(exc.value).message
    assert emulator.get_record("contacts", contact_id)["properties"]["city"] == "A"


def test_create_returns_201_with_records(emulator, contacts_batch):
    data, status, headers = contacts_batch.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "c1@example.com", "firstname": "C1"},
                                                  associations=[]),
            SimplePublicObjectBatchInputForCreate(properties={"firstname": "No email"}),
        ])
    )
    assert status == 201
    assert isinstance(data, BatchResponseSimplePublicObject)
    assert [r.properties.get("firstname") for r in data.results] == ["C1", "No email"]
    assert int(data.results[0].id) < int(data.results[1].id)
    assert len(emulator.records("contacts")) == 2


def test_create_conflict_is_409_for_the_whole_batch(emulator, contacts_batch, upsert_contacts, parse_error):
    existing = upsert_contacts([("taken@example.com", {})]).results[0]
    with pytest.raises(ApiException) as exc:
        create(
            contacts_batch,
            SimplePublicObjectBatchInputForCreate(properties={"email": "fresh@example.com"}),
            SimplePublicObjectBatchInputForCreate(properties={"email": "TAKEN@example.com"}),
        )
    assert exc.value.status == 409
    error = parse_error(exc.value)
    assert error.category == "CONFLICT"
    assert error.message == f"Contact already exists. Existing ID: {existing.id}"
    assert [r["properties"]["email"] for r in emulator.records("contacts")] == ["taken@example.com"]


def test_create_with_object_write_trace_ids_reports_per_input_errors(emulator, contacts_batch, upsert_contacts):
    upsert_contacts([("taken@example.com", {})])

    data, status, _ = contacts_batch.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "ok@example.com"}, object_write_trace_id="a"),
            SimplePublicObjectBatchInputForCreate(properties={"email": "bad"}, object_write_trace_id="b"),
            SimplePublicObjectBatchInputForCreate(properties={"email": "taken@example.com"},
                                                  object_write_trace_id="c"),
        ])
    )

    assert status == 207
    assert isinstance(data, BatchResponseSimplePublicObjectWithErrors)
    assert [r.object_write_trace_id for r in data.results] == ["a"]
    assert data.num_errors == 2
    by_trace = {e.context["objectWriteTraceId"][0]: e for e in data.errors}
    assert by_trace["b"].category == "VALIDATION_ERROR"
    assert '"error":"INVALID_EMAIL"' in by_trace["b"].message
    assert by_trace["c"].category == "CONFLICT"
    assert sorted(r["properties"]["email"] for r in emulator.records("contacts")) == [
        "ok@example.com", "taken@example.com",
    ]


def test_create_without_trace_ids_on_every_input_fails_whole_batch(emulator, contacts_batch):
    with pytest.raises(ApiException) as exc:
        create(
            contacts_batch,
            SimplePublicObjectBatchInputForCreate(properties={"email": "ok@example.com"}, object_write_trace_id="a"),
            SimplePublicObjectBatchInputForCreate(properties={"email": "bad"}),
        )
    assert exc.value.status == 400
    assert emulator.records("contacts") == []

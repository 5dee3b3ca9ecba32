"""batch/upsert: matching by email or a custom unique property, and its refusals."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchResponseSimplePublicUpsertObject,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.contacts.models import SimplePublicUpsertObject

pytestmark = pytest.mark.emulator


def test_upsert_by_email_creates_then_updates_case_insensitively(emulator, upsert_contacts):
    created = upsert_contacts([("Ada@Example.com", {"firstname": "Ada", "lastname": "Lovelace"})])

    assert isinstance(created, BatchResponseSimplePublicUpsertObject)
    assert created.status == "COMPLETE"
    assert created.started_at is not None and created.completed_at is not None
    [first] = created.results
    assert isinstance(first, SimplePublicUpsertObject)
    assert first.new is True
    assert first.properties["email"] == "ada@example.com"
    assert first.properties["hs_object_id"] == first.id
    assert {"createdate", "lastmodifieddate", "firstname", "lastname"} <= set(first.properties)

    updated = upsert_contacts([("ADA@example.COM", {"firstname": "Augusta", "lastname": "Lovelace"})])
    [second] = updated.results
    assert second.new is False
    assert second.id == first.id
    assert second.properties["firstname"] == "Augusta"
    assert second.updated_at >= first.updated_at

    [record] = emulator.records("contacts")
    assert record["id"] == first.id
    assert record["properties"]["email"] == "ada@example.com"
    assert record["properties"]["firstname"] == "Augusta"
    assert emulator.find("contacts", "email", "ADA@EXAMPLE.COM")["id"] == first.id


def test_upsert_by_custom_unique_external_id(emulator, upsert_contacts):
    first = upsert_contacts([("crm-42", {"email": "one@example.com", "firstname": "One"})], "external_id")
    assert first.results[0].new is True
    assert first.results[0].properties["external_id"] == "crm-42"

    # The email changes in the source: matching on external_id keeps the same record.
    second = upsert_contacts([("crm-42", {"email": "two@example.com"})], "external_id")
    assert second.results[0].new is False
    assert second.results[0].id == first.results[0].id
    [record] = emulator.records("contacts")
    assert record["properties"]["email"] == "two@example.com"
    assert record["properties"]["firstname"] == "One"


def test_upsert_mixed_new_and_existing_in_one_batch(emulator, upsert_contacts):
    upsert_contacts([("old@example.com", {"firstname": "Old"})])
    response = upsert_contacts([("old@example.com", {"lastname": "X"}), ("new@example.com", {"lastname": "Y"})])
    assert [r.new for r in response.results] == [False, True]
    assert len({r.id for r in response.results}) == 2
    assert [r["id"] for r in emulator.records("contacts")] == ["1", "2"]


@pytest.mark.parametrize("id_property", ["firstname", "hs_object_id"])
def test_upsert_by_non_unique_property_is_400(emulator, upsert_contacts, parse_error, id_property):
    with pytest.raises(ApiException) as exc:
        upsert_contacts([("Ada", {"lastname": "Lovelace"})], id_property)
    assert exc.value.status == 400
    error = parse_error(exc.value)
    assert error.category == "VALIDATION_ERROR"
    assert f"Unable to perform update/upsert by non-unique {id_property} property" in error.message
    assert emulator.records("contacts") == []


def test_more_than_100_inputs_is_400(emulator, upsert_contacts, parse_error):
    rows = [(f"user{i}@example.com", {}) for i in range(101)]
    with pytest.raises(ApiException) as exc:
        upsert_contacts(rows)
    assert exc.value.status == 400
    assert parse_error(exc.value).category == "VALIDATION_ERROR"
    assert emulator.records("contacts") == []

    # Exactly 100 is fine.
    assert len(upsert_contacts(rows[:100]).results) == 100


def test_duplicate_ids_in_one_batch_are_400(emulator, upsert_contacts, parse_error):
    with pytest.raises(ApiException) as exc:
        upsert_contacts([("dup@example.com", {"firstname": "A"}), ("DUP@example.com", {"firstname": "B"})])
    assert exc.value.status == 400
    error = parse_error(exc.value)
    assert error.category == "VALIDATION_ERROR"
    assert "Duplicate IDs found in batch input" in error.message
    assert emulator.records("contacts") == []


def test_upsert_that_steals_another_records_unique_value_is_409(emulator, upsert_contacts, parse_error):
    upsert_contacts([("a@example.com", {"external_id": "E-1"})])
    with pytest.raises(ApiException) as exc:
        upsert_contacts([("b@example.com", {"external_id": "E-1"})])
    assert exc.value.status == 409
    assert parse_error(exc.value).category == "CONFLICT"
    assert len(emulator.records("contacts")) == 1


def test_empty_string_clears_a_value(emulator, upsert_contacts):
    upsert_contacts([("clear@example.com", {"firstname": "Ada", "phone": "+1 555 0100"})])
    response = upsert_contacts([("clear@example.com", {"phone": "", "firstname": None})])
    assert response.results[0].properties["phone"] == ""
    record = emulator.find("contacts", "email", "clear@example.com")
    assert "phone" not in record["properties"]
    assert "firstname" not in record["properties"]


def test_upsert_companies_and_deals_by_external_id(emulator, hubspot_client):
    from hubspot.crm import companies, deals

    company = hubspot_client.crm.companies.batch_api.upsert(
        companies.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            companies.SimplePublicObjectBatchInputUpsert(
                id="C-1", id_property="external_id",
                properties={"name": "Acme", "industry": "RETAIL", "numberofemployees": "12"},
            )
        ])
    )
    assert company.results[0].new is True
    deal = hubspot_client.crm.deals.batch_api.upsert(
        deals.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            deals.SimplePublicObjectBatchInputUpsert(
                id="D-1", id_property="external_id",
                properties={"dealname": "Big", "amount": "1000.50", "dealstage": "closedwon",
                            "pipeline": "default", "closedate": "2024-05-01T10:00:00Z"},
            )
        ])
    )
    assert deal.results[0].properties["closedate"] == "2024-05-01T10:00:00.000Z"
    assert emulator.find("companies", "external_id", "C-1")["properties"]["name"] == "Acme"
    assert emulator.find("deals", "external_id", "D-1")["properties"]["amount"] == "1000.50"


def test_upsert_by_email_is_refused_for_companies(hubspot_client, parse_error):
    from hubspot.crm import companies

    with pytest.raises(companies.ApiException) as exc:
        hubspot_client.crm.companies.batch_api.upsert(
            companies.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
                companies.SimplePublicObjectBatchInputUpsert(id="x@y.com", id_property="email", properties={})
            ])
        )
    assert exc.value.status == 400
    assert parse_error(exc.value, companies).category == "VALIDATION_ERROR"


def test_upsert_request_model_roundtrip_uses_object_write_trace_id(contacts_batch):
    response = contacts_batch.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(
                id="trace@example.com", id_property="email", properties={}, object_write_trace_id="t-1"
            )
        ])
    )
    assert response.results[0].object_write_trace_id == "t-1"


def test_a_unique_email_property_of_companies_is_matched_exactly_and_keeps_its_case(emulator, hubspot_client):
    """Only a contact's email is compared case-insensitively (shared/hubspot-api.md, upsert and matching);
    a unique property that happens to be named email on another object is a plain unique string."""
    from hubspot.crm import companies

    emulator.add_property("companies", {"name": "email", "label": "Email", "type": "string", "fieldType": "text",
                                        "hasUniqueValue": True})

    def upsert(value: str, name: str) -> companies.SimplePublicUpsertObject:
        [result] = hubspot_client.crm.companies.batch_api.upsert(
            companies.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
                companies.SimplePublicObjectBatchInputUpsert(id=value, id_property="email", properties={"name": name})
            ])).results
        return result

    first = upsert("Ops@Acme.com", "Upper")
    second = upsert("ops@acme.com", "Lower")
    again = upsert("Ops@Acme.com", "Upper again")

    assert first.new and second.new and not again.new and again.id == first.id != second.id
    assert first.properties["email"] == "Ops@Acme.com"
    assert emulator.find("companies", "email", "Ops@Acme.com")["id"] == first.id
    assert emulator.find("companies", "email", "ops@acme.com")["id"] == second.id

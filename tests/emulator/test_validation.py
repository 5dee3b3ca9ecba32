"""Property value validation: one bad value fails the whole batch, with HubSpot's embedded JSON."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
)

pytestmark = pytest.mark.emulator

PREFIX = "Property values were not valid: "


def embedded_errors(error) -> list[dict]:
    assert error.message.startswith(PREFIX)
    return json.loads(error.message[len(PREFIX):])


BAD_VALUES = [
    ("no_such_property", "x", "PROPERTY_DOESNT_EXIST"),
    ("hs_object_id", "999", "READ_ONLY_VALUE"),
    ("createdate", "2024-01-01T00:00:00Z", "READ_ONLY_VALUE"),
    ("lifecyclestage", "prospect", "INVALID_OPTION"),
    ("hs_lead_status", "new", "INVALID_OPTION"),
    ("customer_tier", "platinum", "INVALID_OPTION"),
    ("is_vip", "yes", "INVALID_OPTION"),
    ("annualrevenue", "1,000", "INVALID_INTEGER"),
    ("annualrevenue", "12.", "INVALID_INTEGER"),
    ("date_of_birth", "01/02/1990", "INVALID_DATE"),
    ("date_of_birth", "1990-02-30", "INVALID_DATE"),
    ("signup_date", "1704067200001", "INVALID_DATE"),
    ("last_order_at", "yesterday", "INVALID_DATE"),
    ("firstname", "x" * 65_537, "STRING_TOO_LONG"),
    ("annualrevenue", 12, "INVALID_VALUE_TYPE"),
]


@pytest.mark.parametrize(("name", "value", "code"), BAD_VALUES, ids=[f"{c}-{n}" for n, _, c in BAD_VALUES])
def test_one_invalid_value_fails_the_whole_upsert(emulator, upsert_contacts, parse_error, name, value, code):
    with pytest.raises(ApiException) as exc:
        upsert_contacts([
            ("good@example.com", {"firstname": "Good"}),
            ("bad@example.com", {name: value}),
        ])

    assert exc.value.status == 400
    error = parse_error(exc.value)
    assert error.category == "VALIDATION_ERROR"
    [detail] = embedded_errors(error)
    assert detail["isValid"] is False
    assert detail["error"] == code
    assert detail["name"] == name
    assert detail["message"]
    assert "bad@example.com" not in error.message  # HubSpot does not say which input failed
    assert emulator.records("contacts") == []  # nothing of the batch was written


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@example.com", "a@@example.com", "a@example."])
def test_invalid_email_as_upsert_id(emulator, upsert_contacts, parse_error, email):
    with pytest.raises(ApiException) as exc:
        upsert_contacts([(email, {"firstname": "X"})])
    [detail] = embedded_errors(parse_error(exc.value))
    assert (detail["error"], detail["name"]) == ("INVALID_EMAIL", "email")
    assert emulator.records("contacts") == []


def test_several_errors_are_all_listed(emulator, upsert_contacts, parse_error):
    with pytest.raises(ApiException) as exc:
        upsert_contacts([
            ("c1", {"email": "bad", "lifecyclestage": "nope"}),
            ("c2", {"annualrevenue": "ten"}),
        ], "external_id")
    codes = sorted((d["name"], d["error"]) for d in embedded_errors(parse_error(exc.value)))
    assert codes == [("annualrevenue", "INVALID_INTEGER"), ("email", "INVALID_EMAIL"),
                     ("lifecyclestage", "INVALID_OPTION")]
    assert emulator.records("contacts") == []


def test_valid_values_are_accepted_and_normalized(emulator, upsert_contacts):
    response = upsert_contacts([("valid@example.com", {
        "lifecyclestage": "customer",
        "hs_lead_status": "OPEN_DEAL",
        "is_vip": "true",
        "customer_tier": "gold",
        "annualrevenue": "-1234.5",
        "date_of_birth": "1990-02-28",
        "signup_date": "1704067200000",  # 2024-01-01T00:00:00Z in epoch ms
        "last_order_at": "1704110400000",  # 2024-01-01T12:00:00Z
        "phone": "",
    })])
    props = response.results[0].properties
    assert props["signup_date"] == "2024-01-01"
    assert props["last_order_at"] == "2024-01-01T12:00:00.000Z"
    record = emulator.find("contacts", "email", "valid@example.com")
    assert record["properties"]["is_vip"] == "true"
    assert record["properties"]["date_of_birth"] == "1990-02-28"
    assert record["properties"]["annualrevenue"] == "-1234.5"


def test_iso_datetime_with_offset_is_stored_in_utc(emulator, upsert_contacts):
    upsert_contacts([("tz@example.com", {"last_order_at": "2024-03-10T08:30:00+02:00"})])
    record = emulator.find("contacts", "email", "tz@example.com")
    assert record["properties"]["last_order_at"] == "2024-03-10T06:30:00.000Z"


def test_validation_applies_to_create_and_update(emulator, contacts_batch, upsert_contacts, parse_error):
    with pytest.raises(ApiException) as create_exc:
        contacts_batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "ok@example.com"}),
            SimplePublicObjectBatchInputForCreate(properties={"email": "broken"}),
        ]))
    assert create_exc.value.status == 400
    assert embedded_errors(parse_error(create_exc.value))[0]["error"] == "INVALID_EMAIL"
    assert emulator.records("contacts") == []

    contact_id = upsert_contacts([("ok@example.com", {"firstname": "Ok"})]).results[0].id
    with pytest.raises(ApiException) as update_exc:
        contacts_batch.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            SimplePublicObjectBatchInput(id=contact_id, properties={"firstname": "Changed",
                                                                    "hs_lead_status": "MAYBE"}),
        ]))
    assert update_exc.value.status == 400
    assert embedded_errors(parse_error(update_exc.value))[0]["error"] == "INVALID_OPTION"
    assert emulator.get_record("contacts", contact_id)["properties"]["firstname"] == "Ok"

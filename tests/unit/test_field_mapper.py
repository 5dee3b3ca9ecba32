"""shared/mapping/field_mapper.py: one SQL row -> HubSpot properties with a stable hash."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from shared.config import ObjectConfig, parse_config
from shared.errors import RecordRejected
from shared.mapping.field_mapper import MappedRecord, map_row, payload_hash

pytestmark = pytest.mark.unit

FIELDS: dict[str, Any] = {
    "email": {"column": "Email", "transform": ["trim", "email"], "required": True},
    "firstname": {"column": "FirstName", "transform": "trim"},
    "phone": {"column": "Phone", "transform": "phone"},
    "lifecyclestage": {"column": "Status", "transform": {"map": {"A": "customer", "P": "lead"}}},
    "annualrevenue": {"column": "Revenue", "transform": "number"},
    "signup_date": {"column": "SignedUp"},
    "source_system": {"constant": "erp"},
}


def make_obj(fields: dict[str, Any] | None = None, **overrides: Any) -> ObjectConfig:
    data = {
        "name": "contacts",
        "object_type": "contacts",
        "table": "dbo.Customers",
        "key": ["CustomerId"],
        "watermark": {"column": "RowVer", "kind": "rowversion"},
        "id_property": "email",
        "fields": fields or FIELDS,
        **overrides,
    }
    return parse_config({"objects": [data]}).objects[0]


def make_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "CustomerId": 42,
        "RowVer": b"\x00" * 7 + b"\x05",
        "Email": "  Jane@Example.com ",
        "FirstName": " Jane ",
        "Phone": "(206) 555-0100",
        "Status": "A",
        "Revenue": decimal.Decimal("1200.50"),
        "SignedUp": dt.datetime(2024, 5, 6, 7, 8, 9),
    }
    row.update(overrides)
    return row


def test_map_row_builds_properties() -> None:
    record = map_row(make_row(), make_obj(), "0000000000000005", {"signup_date": "date"})

    assert isinstance(record, MappedRecord)
    assert record.key == (42,)
    assert record.version == "0000000000000005"
    assert record.properties == {
        "email": "jane@example.com",
        "firstname": "Jane",
        "phone": "+12065550100",
        "lifecyclestage": "customer",
        "annualrevenue": "1200.5",
        "signup_date": "2024-05-06",  # a datetime column sent to a date property
        "source_system": "erp",
    }
    assert record.id_value == "jane@example.com"
    assert record.payload_hash == payload_hash(record.properties)


def test_without_property_types_values_keep_their_natural_form() -> None:
    record = map_row(make_row(), make_obj(), "v")
    assert record.properties["signup_date"] == "2024-05-06T07:08:09.000Z"


def test_phone_uses_the_objects_region() -> None:
    obj = make_obj(phone_region="GB")
    record = map_row(make_row(Phone="020 7946 0018"), obj, "v")
    assert record.properties["phone"] == "+442079460018"


def test_composite_key_in_configured_order() -> None:
    obj = make_obj(key=["Region", "CustomerId"])
    record = map_row(make_row(Region="EU"), obj, "v")
    assert record.key == ("EU", 42)


def test_required_field_null_is_rejected_naming_the_field() -> None:
    with pytest.raises(RecordRejected) as info:
        map_row(make_row(Email=None), make_obj(), "v")
    assert info.value.reason == "email: required value is empty (column Email)"


def test_required_field_blank_without_validating_transform_is_empty() -> None:
    fields = {"email": {"column": "Email", "transform": "trim", "required": True}}
    with pytest.raises(RecordRejected) as info:
        map_row(make_row(Email="   "), make_obj(fields), "v")
    assert info.value.reason == "email: required value is empty (column Email)"


EMPTY_TEXT_BUG = (
    "BUG: transforms.py apply_transforms passes '' to email/phone/number/date/bool, which reject it, "
    "although field_mapper.map_row treats '' as 'clear the property'; an empty optional column "
    "(common in SQL Server data) rejects the whole record instead of clearing the value"
)


@pytest.mark.parametrize("email", ["", "   "])
def test_required_field_blank_is_reported_as_empty(email: str) -> None:
    with pytest.raises(RecordRejected) as info:
        map_row(make_row(Email=email), make_obj(), "v")
    assert info.value.reason == "email: required value is empty (column Email)"


@pytest.mark.parametrize("column", ["Phone", "Revenue"])
def test_optional_blank_column_with_a_validating_transform_clears(column: str) -> None:
    record = map_row(make_row(**{column: ""}), make_obj(), "v")
    prop = {"Phone": "phone", "Revenue": "annualrevenue"}[column]
    assert record.properties[prop] == ""


def test_id_property_is_required_even_without_required_flag() -> None:
    fields = {"email": {"column": "Email"}, "firstname": {"column": "FirstName"}}
    with pytest.raises(RecordRejected) as info:
        map_row(make_row(Email=None), make_obj(fields), "v")
    assert info.value.reason == "email: required value is empty (column Email)"


def test_required_constant_that_is_empty_names_the_constant() -> None:
    fields = {"email": {"column": "Email"}, "source_system": {"constant": "", "required": True}}
    with pytest.raises(RecordRejected) as info:
        map_row(make_row(), make_obj(fields), "v")
    assert info.value.reason == "source_system: required value is empty (constant)"


def test_several_bad_fields_give_one_reason_naming_all() -> None:
    row = make_row(Email="not-an-email", Phone="12", Status="Z", Revenue="lots")
    with pytest.raises(RecordRejected) as info:
        map_row(row, make_obj(), "v")

    parts = info.value.reason.split("; ")
    assert [p.split(":")[0] for p in parts] == ["email (column Email)", "phone (column Phone)",
                                                "lifecyclestage (column Status)", "annualrevenue (column Revenue)"]
    assert parts[0].startswith("email (column Email): invalid email")
    assert parts[1] == "phone (column Phone): invalid phone number for region US"
    assert parts[2] == "lifecyclestage (column Status): value 'Z' has no entry in the value map"
    assert parts[3] == "annualrevenue (column Revenue): 'lots' is not a number"


def test_binary_column_without_transform_is_rejected() -> None:
    fields = {"email": {"column": "Email"}, "blob": {"column": "Photo"}}
    with pytest.raises(RecordRejected, match=r"blob \(column Photo\): binary columns cannot be sent to HubSpot"):
        map_row(make_row(Photo=b"\x89PNG"), make_obj(fields), "v")


def test_null_values_clear_sends_empty_strings() -> None:
    row = make_row(FirstName=None, Phone=None, Revenue=None)
    record = map_row(row, make_obj(null_values="clear"), "v")

    assert record.properties["firstname"] == ""
    assert record.properties["phone"] == ""
    assert record.properties["annualrevenue"] == ""


def test_null_values_omit_leaves_properties_out() -> None:
    row = make_row(FirstName=None, Phone=None, Revenue=None)
    record = map_row(row, make_obj(null_values="omit"), "v")

    assert "firstname" not in record.properties
    assert "phone" not in record.properties
    assert "annualrevenue" not in record.properties
    assert record.properties["email"] == "jane@example.com"


def test_missing_column_in_row_counts_as_null() -> None:
    row = make_row()
    del row["FirstName"]
    assert "firstname" not in map_row(row, make_obj(null_values="omit"), "v").properties
    assert map_row(row, make_obj(null_values="clear"), "v").properties["firstname"] == ""


def test_empty_string_clears_even_with_omit() -> None:
    record = map_row(make_row(FirstName="   "), make_obj(null_values="omit"), "v")
    assert record.properties["firstname"] == ""


def test_map_to_null_follows_null_values() -> None:
    fields = {**FIELDS, "lifecyclestage": {"column": "Status", "transform": {"map": {"A": "customer", "X": None}}}}
    assert "lifecyclestage" not in map_row(make_row(Status="X"), make_obj(fields, null_values="omit"), "v").properties
    assert map_row(make_row(Status="X"), make_obj(fields), "v").properties["lifecyclestage"] == ""


def test_constant_fields_ignore_the_row() -> None:
    fields = {"email": {"column": "Email"}, "hs_lead_status": {"constant": "NEW", "transform": "lower"}}
    record = map_row({"CustomerId": 1, "Email": "a@example.com", "hs_lead_status": "IGNORED"}, make_obj(fields), "v")
    assert record.properties == {"email": "a@example.com", "hs_lead_status": "new"}


def test_payload_hash_is_independent_of_dict_order() -> None:
    a = {"email": "a@example.com", "firstname": "Ann", "city": "Oslo"}
    b = {"city": "Oslo", "firstname": "Ann", "email": "a@example.com"}
    assert payload_hash(a) == payload_hash(b)
    assert len(payload_hash(a)) == 64
    int(payload_hash(a), 16)


def test_payload_hash_is_stable_across_runs() -> None:
    # a fixed value: a changed canonical form would make every record look changed after an upgrade
    assert payload_hash({"b": "2", "a": "1"}) == payload_hash({"a": "1", "b": "2"})
    assert payload_hash({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


@pytest.mark.parametrize(
    "other",
    [
        {"email": "a@example.com", "firstname": "Anne"},
        {"email": "a@example.com", "firstname": "Ann", "city": ""},
        {"email": "a@example.com"},
        {"email": "a@example.com", "firstname": "ann"},
    ],
)
def test_payload_hash_differs_for_different_values(other: dict[str, str]) -> None:
    assert payload_hash({"email": "a@example.com", "firstname": "Ann"}) != payload_hash(other)


def test_mapping_the_same_row_twice_gives_the_same_hash() -> None:
    obj = make_obj()
    first = map_row(make_row(), obj, "v1")
    second = map_row(dict(reversed(list(make_row().items()))), obj, "v2")
    assert first.payload_hash == second.payload_hash
    changed = map_row(make_row(FirstName="Janet"), obj, "v3")
    assert changed.payload_hash != first.payload_hash

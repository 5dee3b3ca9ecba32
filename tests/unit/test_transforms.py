"""shared/mapping/transforms.py: SQL value -> HubSpot property string."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from shared.errors import RecordRejected
from shared.mapping.transforms import (
    MAX_STRING_LENGTH,
    TRANSFORMS,
    TransformSpec,
    apply_transforms,
    parse_transforms,
    to_hubspot_string,
)

pytestmark = pytest.mark.unit

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))


def run(value: Any, spec: Any, region: str = "US") -> Any:
    return apply_transforms(value, parse_transforms(spec), region)


def rejected(value: Any, spec: Any, region: str = "US") -> str:
    with pytest.raises(RecordRejected) as info:
        run(value, spec, region)
    assert info.value.reason == str(info.value)
    return info.value.reason


# -- simple text transforms --


@pytest.mark.parametrize(
    "value, spec, expected",
    [
        ("  Jane  ", "trim", "Jane"),
        ("\tJane\n", "trim", "Jane"),
        (5, "trim", 5),  # not text: untouched
        ("JaNe", "lower", "jane"),
        ("JaNe", "upper", "JANE"),
        (5, "upper", "5"),
        (decimal.Decimal("1.50"), "lower", "1.5"),
        ("abcdef", {"truncate": 3}, "abc"),
        ("ab", {"truncate": 3}, "ab"),
        (123456, {"truncate": 2}, "12"),
        (42, "string", "42"),
        ("  Jane@Example.COM ", ["trim", "lower"], "jane@example.com"),
    ],
)
def test_text_transforms(value: Any, spec: Any, expected: Any) -> None:
    assert run(value, spec) == expected


def test_none_passes_through_every_transform() -> None:
    assert run(None, ["trim", "lower", "email", "number"]) is None
    assert apply_transforms(None, ()) is None


def test_transforms_apply_in_order() -> None:
    assert run("  abcdef  ", ["trim", {"truncate": 3}, "upper"]) == "ABC"
    assert run("  abcdef  ", [{"truncate": 3}, "trim"]) == "a"


# -- email --


@pytest.mark.parametrize("value", [" jane@example.com ", "Jane.Doe@Example.COM", "jane+tag@sub.example.co.uk"])
def test_email_valid(value: str) -> None:
    result = run(value, "email")
    local, domain = result.split("@")
    assert result.lower() == value.strip().lower()
    assert domain == domain.lower()
    assert " " not in result


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("not-an-email", "@-sign"),
        ("jane@", "after the @-sign"),
        ("jane@localhost", "should have a period"),
        ("ja ne@example.com", "invalid email"),
    ],
)
def test_email_invalid_is_rejected_with_reason(value: str, fragment: str) -> None:
    reason = rejected(value, "email")
    assert reason.startswith("invalid email: ")
    assert fragment in reason


# -- phone --


@pytest.mark.parametrize(
    "value, spec, region, expected",
    [
        ("(206) 555-0100", "phone", "US", "+12065550100"),
        ("+1 206 555 0100", "phone", "US", "+12065550100"),
        ("020 7946 0018", {"phone": {"region": "GB"}}, "US", "+442079460018"),
        ("020 7946 0018", {"phone": "GB"}, "US", "+442079460018"),
        ("020 7946 0018", "phone", "GB", "+442079460018"),  # the object's phone_region
        ("+44 20 7946 0018", "phone", "US", "+442079460018"),  # an international number ignores the region
    ],
)
def test_phone_to_e164(value: str, spec: Any, region: str, expected: str) -> None:
    assert run(value, spec, region) == expected


def test_phone_invalid_for_region() -> None:
    assert rejected("020 7946 0018", "phone", "US") == "invalid phone number for region US"
    assert rejected("12", {"phone": {"region": "GB"}}) == "invalid phone number for region GB"


def test_phone_not_a_number() -> None:
    assert rejected("call me", "phone") == "not a phone number (region US)"


def test_phone_lower_case_region_is_normalised() -> None:
    assert run("020 7946 0018", {"phone": {"region": "gb"}}) == "+442079460018"


# -- date and datetime --


@pytest.mark.parametrize(
    "value, expected",
    [
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 2, 29, 23, 30), "2024-02-29"),
        (dt.datetime(2024, 3, 1, 1, 0, tzinfo=PLUS2), "2024-03-01"),  # the date it shows, not the UTC date
        ("2024-02-29", "2024-02-29"),
        (" 2024-02-29 ", "2024-02-29"),
        ("2024-02-29T10:00:00", "2024-02-29"),
        ("2024-02-29T10:00:00Z", "2024-02-29"),
    ],
)
def test_date(value: Any, expected: str) -> None:
    assert run(value, "date") == expected


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("2024-02-30", "is not a YYYY-MM-DD date"),
        ("29/02/2024", "is not a YYYY-MM-DD date"),
        ("29 Feb 2024 10:00", "is not an ISO 8601 date or datetime"),
        ("yesterday", "is not an ISO 8601 date or datetime"),
        (20240229, "int value cannot be read as a date"),
    ],
)
def test_date_invalid(value: Any, fragment: str) -> None:
    assert fragment in rejected(value, "date")


@pytest.mark.parametrize(
    "value, expected",
    [
        (dt.datetime(2024, 1, 2, 3, 4, 5, 678901), "2024-01-02T03:04:05.678Z"),  # naive = UTC, ms precision
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000Z"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2), "2024-01-02T01:04:05.000Z"),
        (dt.datetime(2024, 1, 1, 1, 0, tzinfo=PLUS2), "2023-12-31T23:00:00.000Z"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000Z"),
        (dt.date(2024, 1, 2), "2024-01-02T00:00:00.000Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
        ("2024-01-02T03:04:05.5+02:00", "2024-01-02T01:04:05.500Z"),
        ("2024-01-02", "2024-01-02T00:00:00.000Z"),
    ],
)
def test_datetime(value: Any, expected: str) -> None:
    assert run(value, "datetime") == expected


def test_datetime_invalid() -> None:
    assert rejected("next tuesday", "datetime") == "'next tuesday' is not an ISO 8601 date or datetime"
    assert rejected(1.5, "datetime") == "float value cannot be read as a date"


# -- bool --


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, "true"), (False, "false"),
        (1, "true"), (0, "false"),
        (decimal.Decimal(1), "true"), (decimal.Decimal(0), "false"),
        ("true", "true"), ("T", "true"), ("Yes", "true"), ("y", "true"), ("1", "true"), (" on ", "true"),
        ("FALSE", "false"), ("f", "false"), ("no", "false"), ("N", "false"), ("0", "false"), ("off", "false"),
    ],
)
def test_bool_variants(value: Any, expected: str) -> None:
    assert run(value, "bool") == expected


@pytest.mark.parametrize("value", [2, -1, "maybe", "yess"])
def test_bool_invalid(value: Any) -> None:
    assert rejected(value, "bool") == f"{value!r} is not a boolean"


# -- number --


@pytest.mark.parametrize(
    "value, expected",
    [
        (42, "42"),
        (-7, "-7"),
        (decimal.Decimal("1.50"), "1.5"),
        (decimal.Decimal("100.00"), "100"),
        (decimal.Decimal("-0.00"), "0"),
        (decimal.Decimal("1E+3"), "1000"),
        (0.1, "0.1"),
        (2.5, "2.5"),
        ("1.50", "1.5"),
        (" 12 ", "12"),
        ("-0.000", "0"),
        ("1e-7", "0.0000001"),
    ],
)
def test_number(value: Any, expected: str) -> None:
    assert run(value, "number") == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("abc", "'abc' is not a number"),
        ("NaN", "'NaN' is not a finite number"),
        ("Infinity", "'Infinity' is not a finite number"),
        (float("inf"), "inf is not a finite number"),
        (True, "a boolean is not a number"),
    ],
)
def test_number_invalid(value: Any, reason: str) -> None:
    assert rejected(value, "number") == reason


# -- map --


def test_map_without_default() -> None:
    spec = {"map": {"A": "customer", "P": "lead"}}
    assert run("A", spec) == "customer"
    assert run("P", spec) == "lead"
    assert rejected("Z", spec) == "value 'Z' has no entry in the value map"


def test_map_with_default() -> None:
    spec = {"map": {"values": {"A": "customer"}, "default": "other"}}
    assert run("A", spec) == "customer"
    assert run("Z", spec) == "other"


def test_map_keys_and_values_are_compared_as_text() -> None:
    spec = {"map": {1: 10, 2: "two"}}
    assert parse_transforms(spec)[0].arg == {"values": {"1": "10", "2": "two"}}
    assert run(1, spec) == "10"
    assert run("2", spec) == "two"
    assert run(decimal.Decimal(2), spec) == "two"


def test_map_to_null_gives_none() -> None:
    assert run("X", {"map": {"X": None, "A": "a"}}) is None


def test_map_with_yaml_boolean_keys_matches_bit_values() -> None:
    spec = {"map": {True: "Yes", False: "No"}}  # what yaml.safe_load gives for `{true: Yes, false: No}`
    assert run(True, spec) == "Yes"
    assert run(False, spec) == "No"


# -- parse_transforms --


def test_parse_forms() -> None:
    assert parse_transforms(None) == ()
    assert parse_transforms("trim") == (TransformSpec("trim"),)
    assert parse_transforms(["trim", "lower"]) == (TransformSpec("trim"), TransformSpec("lower"))
    assert parse_transforms({"truncate": 5}) == (TransformSpec("truncate", 5),)
    assert parse_transforms({"phone": {"region": "GB"}}) == (TransformSpec("phone", {"region": "GB"}),)
    already = (TransformSpec("upper"),)
    assert parse_transforms(already) is already


def test_every_known_transform_parses() -> None:
    args = {"map": {"a": "b"}, "truncate": 3}
    for name in TRANSFORMS:
        spec = {name: args[name]} if name in args else name
        assert parse_transforms(spec)[0].name == name


@pytest.mark.parametrize(
    "spec, message",
    [
        ("lowr", "unknown transform 'lowr'"),
        (["trim", "uppper"], "unknown transform 'uppper'"),
        ("map", "transform 'map' needs an argument"),
        ({"map": None}, "transform 'map' needs an argument"),
        ({"map": {}}, "transform 'map' needs a mapping of source value -> HubSpot value"),
        ({"map": ["A", "B"]}, "transform 'map' needs a mapping of source value -> HubSpot value"),
        ({"map": {"values": "A"}}, "transform 'map' needs a mapping of source value -> HubSpot value"),
        ("truncate", "transform 'truncate' needs an argument"),
        ({"truncate": 0}, "transform 'truncate' needs a positive length"),
        ({"truncate": "5"}, "transform 'truncate' needs a positive length"),
        ({"phone": {"region": "XX"}}, "transform 'phone': unknown region 'XX'"),
        ({"phone": "Narnia"}, "transform 'phone': unknown region 'Narnia'"),
        ({"phone": {"country": "GB"}}, "transform 'phone': unknown region None"),
        ({"trim": None, "lower": None}, "a transform is a name or a one-key mapping"),
        (5, "a transform is a name or a one-key mapping, not 5"),
    ],
)
def test_parse_errors(spec: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_transforms(spec)
    assert str(info.value).startswith(message)


def test_unknown_transform_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        parse_transforms("lowr")
    for name in TRANSFORMS:
        assert name in str(info.value)


# -- to_hubspot_string --


@pytest.mark.parametrize(
    "value, prop_type, expected",
    [
        (dt.datetime(2024, 3, 1, 22, 0), "date", "2024-03-01"),
        (dt.datetime(2024, 3, 1, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))), "date", "2024-03-01"),  # as shown
        (dt.date(2024, 3, 1), "date", "2024-03-01"),
        ("2024-03-01", "date", "2024-03-01"),
        ("", "date", ""),
        (dt.date(2024, 3, 1), "datetime", "2024-03-01T00:00:00.000Z"),
        (dt.datetime(2024, 3, 1, 22, 0, 0, 123000), "datetime", "2024-03-01T22:00:00.123Z"),
        (1, "bool", "true"),
        (0, "bool", "false"),
        (True, "bool", "true"),
        (decimal.Decimal("1"), "bool", "true"),
        ("true", "bool", "true"),
        (decimal.Decimal("2.50"), "number", "2.5"),
        (7, "number", "7"),
        (2.25, "number", "2.25"),
        ("already text", "string", "already text"),
        ("x", None, "x"),
        (True, None, "true"),
        (False, "string", "false"),
        (12, None, "12"),
        (2.5, None, "2.5"),
        (decimal.Decimal("3.10"), None, "3.1"),
        (dt.datetime(2024, 3, 1, 22, 0), None, "2024-03-01T22:00:00.000Z"),
        (dt.date(2024, 3, 1), None, "2024-03-01"),
        (dt.date(2024, 3, 1), "string", "2024-03-01"),
    ],
)
def test_to_hubspot_string(value: Any, prop_type: str | None, expected: str) -> None:
    assert to_hubspot_string(value, prop_type) == expected


@pytest.mark.parametrize("value", [b"\x00\x01", bytearray(b"x"), memoryview(b"x")])
@pytest.mark.parametrize("prop_type", [None, "string"])
def test_to_hubspot_string_rejects_binary(value: Any, prop_type: str | None) -> None:
    with pytest.raises(RecordRejected, match="binary columns cannot be sent to HubSpot"):
        to_hubspot_string(value, prop_type)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_to_hubspot_string_rejects_non_finite_floats(value: float) -> None:
    with pytest.raises(RecordRejected, match="is not a finite number"):
        to_hubspot_string(value)


def test_to_hubspot_string_bool_property_rejects_other_numbers() -> None:
    with pytest.raises(RecordRejected, match="is not a boolean"):
        to_hubspot_string(5, "bool")


def test_max_string_length_is_hubspots() -> None:
    assert MAX_STRING_LENGTH == 65_536

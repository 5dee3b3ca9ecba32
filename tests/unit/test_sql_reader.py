"""shared/keys.py: canonical watermark versions, source keys as JSON, resume positions."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from shared.errors import SourceError
from shared.keys import Position, decode_version, encode_version, key_to_json
from shared.source.engine import describe_url

pytestmark = pytest.mark.unit


# -- integer --


def test_integer_versions_sort_like_the_numbers() -> None:
    numbers = [0, 1, 9, 10, 11, 99, 100, 12345, 2**63 - 1]
    encoded = [encode_version("integer", n) for n in numbers]

    assert encode_version("integer", 9) < encode_version("integer", 10)
    assert sorted(encoded) == encoded
    assert encoded[2] == "00000000000000000009"
    assert all(len(e) == 20 for e in encoded)


def test_integer_versions_accept_decimal_and_text() -> None:
    assert encode_version("integer", decimal.Decimal(42)) == encode_version("integer", 42)
    assert encode_version("integer", "42") == encode_version("integer", 42)


def test_integer_round_trip() -> None:
    for n in (0, 9, 10, 2**63 - 1):
        assert decode_version("integer", encode_version("integer", n)) == n


def test_negative_integer_is_rejected() -> None:
    with pytest.raises(SourceError, match="watermark value -1 is negative"):
        encode_version("integer", -1)


@pytest.mark.parametrize("kind", ["integer", "rowversion", "timestamp"])
def test_null_watermark_is_rejected(kind: str) -> None:
    with pytest.raises(SourceError, match="NULL watermark"):
        encode_version(kind, None)


# -- rowversion --


def test_rowversion_bytes() -> None:
    value = b"\x00\x00\x00\x00\x00\x00\x07\xd1"
    text = encode_version("rowversion", value)

    assert text == "00000000000007d1"
    assert decode_version("rowversion", text) == value
    assert encode_version("rowversion", bytearray(value)) == text
    assert encode_version("rowversion", memoryview(value)) == text


def test_rowversion_sorts_like_sql_server() -> None:
    values = [(n).to_bytes(8, "big") for n in (1, 9, 10, 255, 256, 4096, 2**40, 2**63)]
    encoded = [encode_version("rowversion", v) for v in values]
    assert sorted(encoded) == encoded
    assert encode_version("rowversion", (9).to_bytes(8, "big")) < encode_version("rowversion", (10).to_bytes(8, "big"))


def test_rowversion_as_integer_matches_bytes() -> None:
    assert encode_version("rowversion", 2001) == encode_version("rowversion", (2001).to_bytes(8, "big"))


def test_short_rowversion_is_left_padded() -> None:
    assert encode_version("rowversion", b"\x07\xd1") == "00000000000007d1"


# -- timestamp --


def test_naive_timestamp() -> None:
    value = dt.datetime(2024, 2, 29, 10, 11, 12, 345678)
    text = encode_version("timestamp", value)

    assert text == "2024-02-29T10:11:12.345678"
    assert decode_version("timestamp", text) == value


def test_aware_timestamp_is_converted_to_utc() -> None:
    value = dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert encode_version("timestamp", value) == "2024-02-29T10:00:00.000000"
    assert encode_version("timestamp", value) == encode_version("timestamp", dt.datetime(2024, 2, 29, 10, 0))


def test_timestamp_from_date_and_text() -> None:
    assert encode_version("timestamp", dt.date(2024, 2, 29)) == "2024-02-29T00:00:00.000000"
    assert encode_version("timestamp", "2024-02-29 10:00:00") == "2024-02-29T10:00:00.000000"
    assert encode_version("timestamp", "2024-02-29T12:00:00+02:00") == "2024-02-29T10:00:00.000000"


def test_timestamps_sort_chronologically() -> None:
    moments = [
        dt.datetime(2023, 12, 31, 23, 59, 59, 999999),
        dt.datetime(2024, 1, 1),
        dt.datetime(2024, 1, 1, 0, 0, 0, 1),
        dt.datetime(2024, 1, 1, 9),
        dt.datetime(2024, 1, 1, 10),
        dt.datetime(2024, 10, 1),
    ]
    encoded = [encode_version("timestamp", m) for m in moments]
    assert sorted(encoded) == encoded
    # mixed naive/aware values sort by the UTC instant
    later_local = dt.datetime(2024, 1, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # 09:30 UTC
    assert encoded[3] < encode_version("timestamp", later_local) < encoded[4]


def test_timestamp_of_wrong_type_is_rejected() -> None:
    with pytest.raises(SourceError, match="does not fit kind 'timestamp'"):
        encode_version("timestamp", 12.5)


# -- key_to_json --


@pytest.mark.parametrize(
    "key, expected",
    [
        ((1,), "[1]"),
        (("EU", 7), '["EU",7]'),
        ([None, True, 1.5], "[null,true,1.5]"),
        ((decimal.Decimal("1200.50"),), '["1200.50"]'),
        ((uuid.UUID("12345678-1234-5678-1234-567812345678"),), '["12345678-1234-5678-1234-567812345678"]'),
        ((dt.date(2024, 2, 29),), '["2024-02-29"]'),
        (("José",), '["Jos\\u00e9"]'),
    ],
)
def test_key_to_json(key: Any, expected: str) -> None:
    assert key_to_json(key) == expected


def test_key_to_json_is_stable() -> None:
    assert key_to_json((1, "a")) == key_to_json([1, "a"]) == key_to_json((1, "a"))
    assert key_to_json((1, "a")) != key_to_json(("a", 1))
    assert key_to_json((1,)) != key_to_json(("1",))


# -- Position --


@pytest.mark.parametrize(
    "position",
    [
        Position("00000000000007d1", (7,)),
        Position("00000000000000000042", ("EU", 7)),
        Position("2024-02-29T10:00:00.000000", None),
    ],
)
def test_position_round_trip(position: Position) -> None:
    assert Position.from_json(position.to_json()) == position


def test_position_json_shape() -> None:
    assert Position("v", (1, "a")).to_json() == '{"version": "v", "key": [1, "a"]}'
    assert Position("v").to_json() == '{"version": "v", "key": null}'


@pytest.mark.parametrize(
    "key",
    [
        (decimal.Decimal("10"),),  # NUMERIC(18,0) keys arrive as Decimal from pyodbc
        (uuid.UUID("12345678-1234-5678-1234-567812345678"),),  # UNIQUEIDENTIFIER
        (dt.datetime(2024, 2, 29, 10, 0),),
    ],
)
def test_position_with_non_json_key_types_can_be_saved(key: tuple[Any, ...]) -> None:
    text = Position("00000000000000000001", key).to_json()
    assert Position.from_json(text).version == "00000000000000000001"


def test_describe_url_hides_the_password() -> None:
    text = describe_url("mssql+pyodbc://sa:hunter2@sql.example.com/crm")
    assert "hunter2" not in text
    assert "sql.example.com" in text
    assert describe_url("::not a url::") == "<unparseable URL>"

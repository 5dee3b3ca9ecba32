"""What reaches HubSpot for awkward source values: exactly what SQL holds, changed only as the
transform documents (shared/mapping/transforms.py). Every expected value below is written out
by hand; none is computed with the code under test."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from shared.errors import RecordRejected
from shared.mapping.transforms import apply_transforms, parse_transforms, to_hubspot_string

pytestmark = pytest.mark.unit

PLUS9 = dt.timezone(dt.timedelta(hours=9))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))


def send(value: Any, transform: Any = None, prop_type: str | None = None) -> str:
    out = apply_transforms(value, parse_transforms(transform))
    return to_hubspot_string(out, prop_type)


EMAILS = [
    # (source, sent) with transform: email (trim + lower-case, nothing else)
    ("name@xn--exmple-cua.example", "name@xn--exmple-cua.example"),  # ASCII (punycode) domain stays ASCII
    ("name@exämple.example", "name@exämple.example"),  # Unicode domain stays Unicode
    ("Name@EXÄMPLE.example", "name@exämple.example"),
    ("  Jane.Doe+CRM@Example.COM\t", "jane.doe+crm@example.com"),  # padded, mixed case, plus-address
    ("jürgen.müller@bücher.de", "jürgen.müller@bücher.de"),  # non-ASCII local part
    ('"john.smith"@example.org', '"john.smith"@example.org'),  # quoted local part
    ("ÅSA@example.se", "åsa@example.se"),
    ("user@sub.domain.example.co.uk", "user@sub.domain.example.co.uk"),
    ("o'brien@example.ie", "o'brien@example.ie"),
]


@pytest.mark.parametrize(("source", "sent"), EMAILS)
def test_email_is_sent_as_the_source_holds_it_trimmed_and_lower_cased(source: str, sent: str) -> None:
    assert send(source, "email") == sent


def test_the_two_forms_of_one_internationalised_domain_stay_distinct() -> None:
    # HubSpot matches by the exact string: converting one form into the other would create a second contact
    assert send("a@xn--bcher-kva.de", "email") != send("a@bücher.de", "email")


@pytest.mark.parametrize("source", ["plainaddress", "a@b", "two@@example.com", "sp ace@example.com", "a@-x.com"])
def test_an_invalid_email_is_rejected_not_rewritten(source: str) -> None:
    with pytest.raises(RecordRejected, match="invalid email"):
        send(source, "email")


STRINGS = [
    # no transform: strings exactly as stored
    ("  padded  ", "  padded  "),
    ("Zoë Ångström-Ñúñez", "Zoë Ångström-Ñúñez"),
    ("東京都 渋谷区", "東京都 渋谷区"),
    ("line1\nline2", "line1\nline2"),
    ("emoji 🎉", "emoji 🎉"),
    ("x" * 65_536, "x" * 65_536),
]


@pytest.mark.parametrize(("source", "sent"), STRINGS, ids=range(len(STRINGS)))
def test_strings_without_a_transform_are_sent_exactly(source: str, sent: str) -> None:
    assert send(source) == sent


def test_trim_only_trims_and_lower_only_lowers() -> None:
    assert send("  Zoë  ", "trim") == "Zoë"
    assert send("ZOË Ñ", "lower") == "zoë ñ"
    assert send("zoë ñ", "upper") == "ZOË Ñ"


PHONES = [
    ("(415) 555-0100", "US", "+14155550100"),
    ("+1 415 555 0100 ext. 12", "US", "+14155550100 ext. 12"),  # the extension is kept
    ("415-555-0100 x7", "US", "+14155550100 ext. 7"),
    ("020 7946 0018", "GB", "+442079460018"),
    ("+49 30 901820", "US", "+4930901820"),  # international: the region does not matter
]


@pytest.mark.parametrize(("source", "region", "sent"), PHONES)
def test_phone_is_e164_and_keeps_its_extension(source: str, region: str, sent: str) -> None:
    assert send(source, {"phone": {"region": region}}) == sent


DATES = [
    (dt.date(1900, 1, 1), "date", "1900-01-01"),
    (dt.date(9999, 12, 31), "date", "9999-12-31"),
    (dt.date(2024, 2, 29), "date", "2024-02-29"),
    (dt.datetime(2024, 3, 1, 23, 30, tzinfo=MINUS5), "date", "2024-03-01"),  # the date it shows
    (dt.datetime(2024, 3, 1, 0, 30, tzinfo=PLUS9), "date", "2024-03-01"),
    ("2024-03-01T23:30:00-05:00", "date", "2024-03-01"),
    (dt.datetime(2024, 3, 1, 23, 30, tzinfo=MINUS5), "datetime", "2024-03-02T04:30:00.000Z"),  # an instant, in UTC
    (dt.datetime(1970, 1, 1, 0, 0, 0, 999999), "datetime", "1970-01-01T00:00:00.999Z"),  # ms precision
    (dt.datetime(9999, 12, 31, 23, 59, 59), "datetime", "9999-12-31T23:59:59.000Z"),
]


@pytest.mark.parametrize(("source", "transform", "sent"), DATES)
def test_dates_at_the_edges(source: Any, transform: str, sent: str) -> None:
    assert send(source, transform) == sent


@pytest.mark.parametrize("source", ["2023-02-29", "0000-01-01", "2024-13-01"])
def test_impossible_dates_are_rejected(source: str) -> None:
    with pytest.raises(RecordRejected):
        send(source, "date")


NUMBERS = [
    (decimal.Decimal("1.50"), "1.5"),
    (decimal.Decimal("-0.00"), "0"),
    (decimal.Decimal("1E+3"), "1000"),
    (decimal.Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
    ("  42 ", "42"),
    (0.1, "0.1"),
]


@pytest.mark.parametrize(("source", "sent"), NUMBERS)
def test_numbers_keep_every_significant_digit(source: Any, sent: str) -> None:
    assert send(source, "number") == sent

"""Value transforms: SQL value -> HubSpot property string. Pure code, no I/O.

A field's ``transform`` is a name, a one-key mapping for a transform with an argument, or a
list of those applied in order::

    transform: [trim, lower, email]
    transform: {map: {A: customer, P: lead}}
    transform: {phone: {region: GB}}

A transform that cannot convert a value raises ``RecordRejected`` with the reason; the row is
rejected and recorded, the rest of its batch goes on.

Fidelity: what reaches HubSpot is what the source holds, changed only as each transform says:

- ``trim``: leading and trailing white space removed. ``lower``/``upper``: case changed.
- ``email``: validated, then sent trimmed and lower-cased (what HubSpot itself does), nothing
  else: an internationalised domain stays in the form the source holds (``xn--`` or Unicode),
  a quoted local part, a plus-address, a non-ASCII local part are sent as they are.
- ``phone``: parsed for the region and sent in E.164 (``+14155550100``); an extension is kept
  (``+14155550100 ext. 12``).
- ``date``: the calendar date the value shows (a datetime's own date, in its own offset).
- ``datetime``: the instant in UTC, to the millisecond (HubSpot's precision); a value without
  an offset is taken as UTC.
- ``bool``: ``true``/``false`` from 1/0, yes/no, true/false, on/off, t/f, y/n.
- ``number``: plain decimal digits, trailing zeros of a fraction dropped (``1.50`` -> ``1.5``).
- ``map``: the mapped value; ``truncate``: the first N characters; ``string``: the text form.
- no transform: strings exactly as stored; other types in HubSpot's wire form
  (``to_hubspot_string``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shared.errors import RecordRejected

MAX_STRING_LENGTH = 65_536


@dataclass(frozen=True)
class TransformSpec:
    name: str
    arg: Any = None


def _reject(message: str) -> RecordRejected:
    return RecordRejected(message)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_hubspot_string(value)


def _trim(value: Any, _arg: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _lower(value: Any, _arg: Any) -> Any:
    return _text(value).lower()


def _upper(value: Any, _arg: Any) -> Any:
    return _text(value).upper()


def _email(value: Any, _arg: Any) -> str:
    text = _text(value).strip()
    try:
        # validation only: its normalised form (Unicode domains, NFC) is not what the source holds
        validate_email(text, check_deliverability=False, allow_quoted_local=True)
    except EmailNotValidError as err:
        raise _reject(f"invalid email: {err}") from None
    # lower-cased as a whole: HubSpot matches and stores emails case-insensitively
    return text.lower()


def _phone(value: Any, arg: Any) -> str:
    region = (arg or {}).get("region", "US") if isinstance(arg, dict) else (arg or "US")
    text = _text(value).strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise _reject(f"not a phone number (region {region})") from None
    if not phonenumbers.is_valid_number(number):
        raise _reject(f"invalid phone number for region {region}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164} ext. {number.extension}" if number.extension else e164


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _reject(f"{value!r} is not an ISO 8601 date or datetime") from None
    else:
        raise _reject(f"{type(value).__name__} value cannot be read as a date")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # SQL datetimes without offset are taken as UTC
    return moment.astimezone(dt.UTC)


def _date(value: Any, _arg: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()  # the date it shows, not the UTC date of the instant
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise _reject(f"{value!r} is not a YYYY-MM-DD date") from None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            return dt.datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            raise _reject(f"{value!r} is not an ISO 8601 date or datetime") from None
    raise _reject(f"{type(value).__name__} value cannot be read as a date")


def _datetime(value: Any, _arg: Any) -> str:
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


def _bool(value: Any, _arg: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | decimal.Decimal) and value in (0, 1):
        return "true" if value == 1 else "false"
    text = _text(value).strip().lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    raise _reject(f"{value!r} is not a boolean")


def _number(value: Any, _arg: Any) -> str:
    if isinstance(value, bool):
        raise _reject("a boolean is not a number")
    try:
        number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
    except (decimal.InvalidOperation, ValueError):
        raise _reject(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise _reject(f"{value!r} is not a finite number")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _map(value: Any, arg: Any) -> Any:
    values: dict[str, Any] = arg.get("values", arg) if isinstance(arg, dict) else {}
    key = _text(value)
    if key in values:
        return values[key]
    if isinstance(arg, dict) and "default" in arg and "values" in arg:
        return arg["default"]
    raise _reject(f"value {key!r} has no entry in the value map")


def _truncate(value: Any, arg: Any) -> str:
    return _text(value)[: int(arg)]


def _string(value: Any, _arg: Any) -> str:
    return _text(value)


TRANSFORMS: dict[str, Callable[[Any, Any], Any]] = {
    "trim": _trim,
    "lower": _lower,
    "upper": _upper,
    "email": _email,
    "phone": _phone,
    "date": _date,
    "datetime": _datetime,
    "bool": _bool,
    "number": _number,
    "map": _map,
    "truncate": _truncate,
    "string": _string,
}
_NEEDS_ARG = {"map", "truncate"}


def _parse_one(item: Any) -> TransformSpec:
    if isinstance(item, str):
        name, arg = item, None
    elif isinstance(item, dict) and len(item) == 1:
        name, arg = next(iter(item.items()))
    else:
        raise ValueError(f"a transform is a name or a one-key mapping, not {item!r}")
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r} (known: {', '.join(sorted(TRANSFORMS))})")
    if name in _NEEDS_ARG and arg is None:
        raise ValueError(f"transform {name!r} needs an argument")
    if name == "map":
        values = arg.get("values", arg) if isinstance(arg, dict) else None
        if not isinstance(values, dict) or not values:
            raise ValueError("transform 'map' needs a mapping of source value -> HubSpot value")
        arg = {"values": {_text(k): (None if v is None else _text(v)) for k, v in values.items()},
               **({"default": arg["default"]} if "default" in arg else {})}
    if name == "truncate" and (not isinstance(arg, int) or arg < 1):
        raise ValueError("transform 'truncate' needs a positive length")
    if name == "phone" and arg is not None:
        region = arg.get("region") if isinstance(arg, dict) else arg
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"transform 'phone': unknown region {region!r}")
        arg = {"region": region.upper()}
    return TransformSpec(name, arg)


def parse_transforms(value: Any) -> tuple[TransformSpec, ...]:
    """Parse a field's ``transform`` setting; raise ValueError naming an unknown transform."""
    if value is None:
        return ()
    if isinstance(value, tuple) and all(isinstance(v, TransformSpec) for v in value):
        return value
    items = value if isinstance(value, list) else [value]
    return tuple(_parse_one(item) for item in items)


def apply_transforms(value: Any, specs: tuple[TransformSpec, ...], phone_region: str = "US") -> Any:
    """Apply ``specs`` in order; a None value passes through untouched (handled by the mapper)."""
    for spec in specs:
        if value is None or value == "":
            return value  # empty stays empty: the mapper decides between "required" and "clear"
        arg = spec.arg
        if spec.name == "phone" and arg is None:
            arg = phone_region
        value = TRANSFORMS[spec.name](value, arg)
    return value


def to_hubspot_string(value: Any, prop_type: str | None = None) -> str:
    """The wire form of a value: HubSpot takes every property value as a string.

    ``prop_type`` is the HubSpot property type when known, so a SQL datetime sent to a
    ``date`` property becomes ``YYYY-MM-DD`` and a bit column sent to a ``bool`` property
    becomes ``true``/``false``.
    """
    if prop_type == "date" and isinstance(value, dt.date | str) and value != "":
        return _date(value, None)
    if prop_type == "datetime" and isinstance(value, dt.date):
        return _datetime(value, None)
    if prop_type == "bool" and not isinstance(value, str):
        return _bool(value, None)
    if prop_type == "number" and isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return _number(value, None)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _reject(f"{value!r} is not a finite number")
        return _number(repr(value), None)
    if isinstance(value, decimal.Decimal):
        return _number(value, None)
    if isinstance(value, dt.datetime):
        return _datetime(value, None)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raise _reject("binary columns cannot be sent to HubSpot")
    return str(value)

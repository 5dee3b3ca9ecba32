"""Validation of property values as HubSpot does it before any write.

Each problem is reported as HubSpot's per-property result
``{"isValid": false, "message": ..., "error": "INVALID_EMAIL", "name": "email"}``; the
server embeds the list as JSON in the ``message`` of a ``VALIDATION_ERROR``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

MAX_STRING_LENGTH = 65_536
MS_PER_DAY = 86_400_000

PROPERTY_DOESNT_EXIST = "PROPERTY_DOESNT_EXIST"
READ_ONLY_VALUE = "READ_ONLY_VALUE"
INVALID_OPTION = "INVALID_OPTION"
INVALID_EMAIL = "INVALID_EMAIL"
INVALID_INTEGER = "INVALID_INTEGER"
INVALID_DATE = "INVALID_DATE"
# No HubSpot code is documented for these two; the emulator's own names.
STRING_TOO_LONG = "STRING_TOO_LONG"
INVALID_VALUE_TYPE = "INVALID_VALUE_TYPE"

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH_RE = re.compile(r"^-?\d+$")


def is_valid_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value))


def property_error(name: str, code: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
    }


def validation_message(errors: list[dict[str, Any]]) -> str:
    """HubSpot's top-level message with the per-property results embedded as JSON."""
    return "Property values were not valid: " + json.dumps(errors, separators=(",", ":"))


def _iso_from_epoch_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalize_datetime(value: str) -> str | None:
    """ISO 8601 or epoch milliseconds → ``YYYY-MM-DDTHH:MM:SS.mmmZ``; None when invalid."""
    try:
        if _EPOCH_RE.match(value):
            return _iso_from_epoch_ms(int(value))
        if " " in value.strip() or not value:
            return None
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalize_date(value: str) -> tuple[str | None, str]:
    """``YYYY-MM-DD`` or epoch ms at midnight UTC → ``YYYY-MM-DD``; (None, reason) when invalid."""
    if _DATE_RE.match(value):
        try:
            return date.fromisoformat(value).isoformat(), ""
        except ValueError:
            return None, f"{value} is not a valid date"
    if _EPOCH_RE.match(value):
        ms = int(value)
        remainder = ms % MS_PER_DAY
        if remainder:
            seconds, millis = divmod(remainder, 1000)
            hours, seconds = divmod(seconds, 3600)
            minutes, seconds = divmod(seconds, 60)
            return None, f"{value} is at {hours}:{minutes}:{seconds}.{millis} UTC, not midnight!"
        try:
            return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat(), ""
        except (ValueError, OverflowError, OSError):
            return None, f"{value} is not a valid date"
    return None, f"{value} is not a valid date; use YYYY-MM-DD or epoch milliseconds at midnight UTC"


def option_values(definition: dict[str, Any]) -> list[str]:
    return [str(o.get("value")) for o in definition.get("options") or []]


def is_multi_select(definition: dict[str, Any]) -> bool:
    return definition.get("type") == "enumeration" and definition.get("fieldType") == "checkbox"


def is_read_only(definition: dict[str, Any]) -> bool:
    metadata = definition.get("modificationMetadata") or {}
    return bool(metadata.get("readOnlyValue") or definition.get("calculated"))


def validate_value(
    name: str, definition: dict[str, Any], value: str, object_type: str
) -> tuple[str, dict[str, Any] | None]:
    """Check one non-empty string value against its definition (of a property of ``object_type``).

    Returns ``(normalized_value, None)`` or ``(value, error)``. Only a contact's email is stored
    lowercase; a property named ``email`` on another object keeps its case.
    """
    type_ = definition.get("type")
    if type_ == "string":
        if len(value) > MAX_STRING_LENGTH:
            return value, property_error(
                name, STRING_TOO_LONG,
                f"Property value for {name} is {len(value)} characters long; "
                f"the maximum is {MAX_STRING_LENGTH}",
            )
        if name == "email":
            if not is_valid_email(value):
                return value, property_error(name, INVALID_EMAIL, f"Email address {value} is invalid")
            return (value.lower() if object_type == "contacts" else value), None
        return value, None
    if type_ == "number":
        if not _NUMBER_RE.match(value):
            return value, property_error(name, INVALID_INTEGER, f"{value} was not a valid number.")
        return value, None
    if type_ == "bool":
        if value not in ("true", "false"):
            return value, property_error(
                name, INVALID_OPTION, f"{value} was not one of the allowed options: [true, false]"
            )
        return value, None
    if type_ == "enumeration":
        allowed = option_values(definition)
        parts = [v for v in value.split(";") if v] if is_multi_select(definition) else [value]
        bad = [v for v in parts if v not in allowed]
        if bad or not parts:
            shown = ", ".join(allowed)
            offending = bad[0] if bad else value
            return value, property_error(
                name, INVALID_OPTION, f"{offending} was not one of the allowed options: [{shown}]"
            )
        return value, None
    if type_ == "date":
        normalized, reason = normalize_date(value)
        if normalized is None:
            return value, property_error(name, INVALID_DATE, reason)
        return normalized, None
    if type_ == "datetime":
        normalized_dt = normalize_datetime(value)
        if normalized_dt is None:
            return value, property_error(
                name, INVALID_DATE, f"{value} is not a valid datetime; use ISO 8601 or epoch milliseconds"
            )
        return normalized_dt, None
    return value, None


def validate_properties(
    definitions: dict[str, dict[str, Any]], properties: dict[str, Any], object_type: str
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Validate a ``properties`` object of one input.

    Returns the normalized values (``""`` meaning *clear*) and the list of errors.
    """
    normalized: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, raw in properties.items():
        definition = definitions.get(name)
        if definition is None:
            errors.append(property_error(name, PROPERTY_DOESNT_EXIST, f'Property "{name}" does not exist'))
            continue
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            errors.append(property_error(
                name, INVALID_VALUE_TYPE,
                f"Property values must be sent as strings; {name} was {type(raw).__name__} {raw!r}",
            ))
            continue
        if is_read_only(definition):
            errors.append(property_error(
                name, READ_ONLY_VALUE, f'"{name}" is a read only property; its value cannot be set.'
            ))
            continue
        if raw == "":
            normalized[name] = ""
            continue
        value, error = validate_value(name, definition, raw, object_type)
        if error:
            errors.append(error)
        else:
            normalized[name] = value
    return normalized, errors

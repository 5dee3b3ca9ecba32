"""NCRONTAB validation for the timer's ``HUBSYNC_SCHEDULE`` (six fields, seconds first)."""

from __future__ import annotations

import re

from shared.errors import ConfigurationError

_FIELDS = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}),
    ("day-of-week", 0, 6, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)
_PART = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    number = names.get(text) if text in names else (int(text) if text.isdigit() else None)
    if number is None or not low <= number <= high:
        raise ValueError(f"{text!r} is outside {low}-{high}")
    return number


def validate_schedule(expression: str, setting: str = "HUBSYNC_SCHEDULE") -> str:
    """Return ``expression`` when it is a valid six-field NCRONTAB; otherwise name the problem."""
    fields = expression.lower().split()
    if len(fields) != 6:
        raise ConfigurationError(
            f"{setting}: {expression!r} has {len(fields)} fields; Azure Functions timers take six "
            "(second minute hour day month day-of-week), e.g. '0 */15 * * * *'"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in text.split(","):
            match = _PART.match(part)
            try:
                if not match:
                    raise ValueError(f"{part!r} is not a value, range, list or step")
                base, step = match.groups()
                if step is not None and int(step) == 0:
                    raise ValueError("a step of 0")
                if base != "*":
                    bounds = [_value(b, low, high, names) for b in base.split("-")]
                    if len(bounds) == 2 and bounds[0] > bounds[1]:
                        raise ValueError(f"range {base!r} runs backwards")
            except ValueError as err:
                raise ConfigurationError(f"{setting}: {name} field {text!r} does not parse: {err}") from None
    return expression

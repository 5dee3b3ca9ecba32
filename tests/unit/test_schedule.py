"""shared/schedule.py: the timer's six-field NCRONTAB."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.schedule import validate_schedule

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "expression",
    [
        "0 */15 * * * *",
        "0 0 9 * * mon-fri",
        "0 0 9 * * MON-FRI",
        "0 30 9-17 * * 1-5",
        "0 0,30 * * * *",
        "0 0 0 1 jan,jul *",
        "59 59 23 31 12 6",
        "0 0 */2 * * sun",
        "*/10 * * * * *",
    ],
)
def test_valid_schedules(expression: str) -> None:
    assert validate_schedule(expression) == expression


def test_five_fields_names_the_setting_and_six() -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_schedule("*/15 * * * *")
    message = str(info.value)
    assert message.startswith("HUBSYNC_SCHEDULE: ")
    assert "has 5 fields" in message
    assert "six" in message
    assert "0 */15 * * * *" in message  # an example to copy


def test_setting_name_can_be_changed() -> None:
    with pytest.raises(ConfigurationError, match=r"^MY_TIMER: "):
        validate_schedule("* * *", setting="MY_TIMER")


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ("61 * * * * *", "second field '61' does not parse: '61' is outside 0-59"),
        ("0 60 * * * *", "minute field '60' does not parse"),
        ("0 0 24 * * *", "hour field '24' does not parse"),
        ("0 0 0 0 * *", "day field '0' does not parse"),
        ("0 0 0 * 13 *", "month field '13' does not parse"),
        ("0 0 0 * * 7", "day-of-week field '7' does not parse"),
        ("x * * * * *", "second field 'x' does not parse"),
        ("0 0 9 * * fri-mon", "range 'fri-mon' runs backwards"),
        ("0 */0 * * * *", "a step of 0"),
        ("0 0 9 * * mon-", "is not a value, range, list or step"),
        ("0 0 9 * * funday", "'funday' is outside 0-6"),
    ],
)
def test_invalid_fields(expression: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_schedule(expression)
    assert str(info.value).startswith("HUBSYNC_SCHEDULE: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize("expression", ["", "   ", "0 */15 * * * * *"])
def test_wrong_field_count(expression: str) -> None:
    with pytest.raises(ConfigurationError, match="fields; Azure Functions timers take six"):
        validate_schedule(expression)

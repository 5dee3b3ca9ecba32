"""Issue 8.10: log masking missed non-ASCII emails, and rejection reasons put raw row values into
WARNING lines that reach Application Insights."""

from __future__ import annotations

import logging

import pytest

from shared import sync_logger
from shared.redaction import mask, redact_values
from shared.sync_logger import MaskingFilter, log_event

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "masked"), [
    ("jürgen.müller@bücher.de", "j***@bücher.de"),
    ("Контакт: иван@пример.рф", "Контакт: и***@пример.рф"),
    ("o'brien@example.ie wrote", "o***@example.ie wrote"),
    ("plain ann@example.com", "plain a***@example.com"),
])
def test_emails_in_any_script_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_reasons_lose_the_values_they_quote() -> None:
    reason = "signup_date (column dob): '1985-13-07 (DOB of Zoë)' is not an ISO 8601 date"
    assert redact_values(reason) == "signup_date (column dob): '…' is not an ISO 8601 date"


def test_a_rejection_logged_carries_no_value_unless_the_operator_opts_in(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("hubsync.test.privacy")
    logger.addFilter(MaskingFilter())
    reason = "lastname: 'Zoë Ångström' is too long; email 'zoe@example.com' is already synced from source key [9]"
    try:
        with caplog.at_level(logging.WARNING, logger="hubsync.test.privacy"):
            log_event(logger, logging.WARNING, "record_rejected", source_key="[3]", reason=reason)
            sync_logger.log_values(True)
            log_event(logger, logging.WARNING, "record_rejected", source_key="[4]", reason=reason)
    finally:
        sync_logger.log_values(False)
    hidden, shown = caplog.records
    assert "Zoë" not in hidden.getMessage() and "zoe@" not in hidden.getMessage()
    assert hidden.custom_dimensions["reason"] == "lastname: '…' is too long; email '…' is already synced from source key [9]"
    assert "Zoë Ångström" in shown.getMessage() and "z***@example.com" in shown.getMessage()  # opted in: masked only

"""shared/sync_logger.py: privacy-aware logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.redaction import mask, scrub_secrets
from shared.sync_logger import MaskingFilter, log_event

pytestmark = pytest.mark.unit

EMAIL = "john.doe@example.com"


def record(level: int, msg: str, *args: Any, **extra: Any) -> logging.LogRecord:
    logger = logging.getLogger("hubsync.test")
    return logger.makeRecord("hubsync.test", level, __file__, 1, msg, args or None, None, extra=extra or None)


def test_mask_email_keeps_domain_hides_local_part() -> None:
    masked = mask(f"rejected {EMAIL} today")
    assert "john.doe" not in masked
    assert "@example.com" in masked
    assert masked == "rejected j***@example.com today"


def test_mask_several_emails() -> None:
    masked = mask("a.b@x.org, Carol+tag@mail.example.co.uk")
    assert masked == "a***@x.org, C***@mail.example.co.uk"


@pytest.mark.parametrize("phone", ["+1 206 555 0100", "+442079460018", "020 7946 0018", "206-555-0100"])
def test_mask_phone(phone: str) -> None:
    masked = mask(f"phone {phone} is invalid")
    assert masked == f"phone ***{phone[-2:]} is invalid"


def test_mask_phone_in_parentheses_form() -> None:
    masked = mask("phone (206) 555-0100 is invalid")
    assert "555" not in masked
    assert "206" not in masked
    assert masked.endswith("00 is invalid")


@pytest.mark.parametrize(
    "text",
    [
        "run 20261129T162905-61ec9cfe done",
        "batch 20261129T162905-61ec9cfe:contacts:12",
        "rows_read=250 batches=3",
        "version 00000000000007d1",
        "batch_id=20261129T162905-61ec9cfe:contacts:0 attempt=3",
    ],
)
def test_run_ids_and_counters_are_not_masked(text: str) -> None:
    assert mask(text) == text


def test_scrub_bearer_token() -> None:
    scrubbed = scrub_secrets("Authorization: Bearer abc.def")
    assert "abc.def" not in scrubbed
    assert scrubbed == "Authorization: Bearer [redacted]"


@pytest.mark.parametrize(
    "text, secret",
    [
        ("GET /crm?access_token=tok-123.x", "tok-123.x"),
        ("token pat-na1-11111111-2222-3333-4444-555555555555 refused", "11111111-2222-3333-4444-555555555555"),
        ("authorization: bearer SeCrEt_99", "SeCrEt_99"),
    ],
)
def test_scrub_other_token_shapes(text: str, secret: str) -> None:
    scrubbed = scrub_secrets(text)
    assert secret not in scrubbed
    assert "[redacted]" in scrubbed


def test_scrub_leaves_ordinary_text() -> None:
    text = f"no secrets here, just {EMAIL}"
    assert scrub_secrets(text) == text


def test_filter_at_info_masks_personal_data_and_tokens() -> None:
    rec = record(logging.INFO, "sent %s with Bearer abc.def", EMAIL)
    assert MaskingFilter().filter(rec) is True
    message = rec.getMessage()
    assert "john.doe" not in message
    assert "abc.def" not in message
    assert "j***@example.com" in message


def test_filter_at_debug_keeps_emails_but_removes_tokens() -> None:
    rec = record(logging.DEBUG, "sent %s with Bearer abc.def", EMAIL)
    assert MaskingFilter().filter(rec) is True
    message = rec.getMessage()
    assert EMAIL in message
    assert "abc.def" not in message


def test_filter_leaves_clean_records_untouched() -> None:
    rec = record(logging.INFO, "plan_done %s", "rows_read=3")
    MaskingFilter().filter(rec)
    assert rec.msg == "plan_done %s"
    assert rec.args == ("rows_read=3",)


def test_filter_masks_reason_and_source_key_attributes() -> None:
    rec = record(logging.WARNING, "record_rejected",
                 custom_dimensions={"reason": f"invalid email {EMAIL}", "source_key": f'["{EMAIL}"]', "created": 2})
    MaskingFilter().filter(rec)
    assert rec.custom_dimensions["reason"] == "invalid email j***@example.com"
    assert rec.custom_dimensions["source_key"] == '["j***@example.com"]'
    assert rec.custom_dimensions["created"] == 2


def test_filter_at_debug_keeps_reason_attribute() -> None:
    rec = record(logging.DEBUG, "record_rejected", reason=f"invalid email {EMAIL}")
    MaskingFilter().filter(rec)
    assert rec.reason == f"invalid email {EMAIL}"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Any:
    logger = logging.getLogger("hubsync.unit.capture")
    handler = _Capture()
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler.records
    logger.removeHandler(handler)


def test_log_event_text_and_dimensions(captured: Any) -> None:
    logger, records = captured
    log_event(logger, logging.INFO, "plan_done", run_id="r1", rows_read=2, skipped=None)

    (rec,) = records
    assert rec.getMessage() == "plan_done run_id=r1 rows_read=2"
    assert rec.custom_dimensions == {"event": "plan_done", "run_id": "r1", "rows_read": 2, "skipped": None}


def test_log_event_below_the_level_is_dropped(captured: Any) -> None:
    logger, records = captured
    logger.setLevel(logging.WARNING)
    log_event(logger, logging.INFO, "plan_done", run_id="r1")
    assert records == []


def test_log_event_with_a_created_counter(captured: Any) -> None:
    logger, records = captured
    log_event(logger, logging.INFO, "batch_done", run_id="r1", created=2, updated=1)
    (rec,) = records
    assert rec.getMessage() == "batch_done run_id=r1 created=2 updated=1"
    assert rec.custom_dimensions["created"] == 2


def test_log_event_message_is_masked(captured: Any) -> None:
    logger, records = captured
    log_event(logger, logging.WARNING, "record_rejected", reason=f"invalid email {EMAIL}")
    (rec,) = records
    assert "john.doe" not in rec.getMessage()
    assert "john.doe" not in rec.custom_dimensions["reason"]


def test_log_event_custom_dimensions_are_masked(captured: Any) -> None:
    logger, records = captured
    log_event(logger, logging.WARNING, "record_rejected", reason=f"invalid email {EMAIL}",
              source_key=f'["{EMAIL}"]')
    (rec,) = records
    assert "john.doe" not in str(rec.custom_dimensions)

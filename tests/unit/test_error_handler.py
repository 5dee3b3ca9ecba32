"""shared/hubspot/error_handler.py: HubSpot answers and transport failures -> hubsync errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.errors import (
    AuthenticationError,
    BatchValidationError,
    ConfigurationError,
    HubsyncError,
    RecordRejected,
    RetryableError,
)
from shared.hubspot.error_handler import (
    LOCKED_WAIT,
    TEN_SECONDLY_WAIT,
    classify_exception,
    classify_response,
    explain_rejection,
)

pytestmark = pytest.mark.unit


def body(**fields: Any) -> str:
    return json.dumps({"status": "error", "correlationId": "c0ffee", **fields})


def test_401_is_an_authentication_error_naming_the_token_setting() -> None:
    err = classify_response(401, body(message="Authentication credentials not found.", category="INVALID_AUTHENTICATION"))
    assert type(err) is AuthenticationError
    assert isinstance(err, ConfigurationError)
    assert "HUBSPOT_ACCESS_TOKEN" in str(err)
    assert "401 INVALID_AUTHENTICATION" in str(err)
    assert "correlationId c0ffee" in str(err)


def test_403_names_the_scopes() -> None:
    err = classify_response(403, body(message="This app hasn't been granted all required scopes", category="MISSING_SCOPES"),
                            what="batch upsert of contacts")
    assert type(err) is AuthenticationError
    assert "403 MISSING_SCOPES" in str(err)
    assert "scopes" in str(err)
    assert "batch upsert of contacts" in str(err)


def test_429_ten_secondly() -> None:
    err = classify_response(429, body(errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING", message="limit"))
    assert type(err) is RetryableError
    assert err.retry_after == TEN_SECONDLY_WAIT == 10
    assert err.status == 429
    assert "TEN_SECONDLY_ROLLING" in str(err)


def test_429_daily_is_quota_exhausted_and_waits_an_hour() -> None:
    err = classify_response(429, body(errorType="RATE_LIMIT", policyName="DAILY"))
    assert type(err) is RetryableError
    assert err.retry_after == 3600 and err.quota_exhausted
    assert "daily API limit" in str(err) and "midnight" in str(err)


def test_429_ten_secondly_is_not_quota_exhausted() -> None:
    err = classify_response(429, body(errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING"))
    assert err.retry_after == 10 and not err.quota_exhausted


def test_429_without_a_body_still_waits() -> None:
    err = classify_response(429, "")
    assert isinstance(err, RetryableError)
    assert err.retry_after == 10


def test_423_locked() -> None:
    err = classify_response(423, body(message="locked"))
    assert type(err) is RetryableError
    assert err.retry_after == LOCKED_WAIT == 2
    assert err.status == 423


@pytest.mark.parametrize("header", ["Retry-After", "retry-after", "RETRY-AFTER"])
def test_477_uses_retry_after_header(header: str) -> None:
    err = classify_response(477, body(message="migration in progress"), {header: "30"})
    assert type(err) is RetryableError
    assert err.retry_after == 30.0
    assert err.status == 477


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 524])
def test_server_errors_are_retryable(status: int) -> None:
    err = classify_response(status, "<html>Bad gateway</html>")
    assert type(err) is RetryableError
    assert err.status == status
    assert err.retry_after is None
    assert f"({status})" in str(err)
    assert "Bad gateway" in str(err)


def test_503_with_unparseable_retry_after() -> None:
    err = classify_response(503, "", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    assert isinstance(err, RetryableError)
    assert err.retry_after is None


def test_400_validation_error_is_a_batch_validation_error() -> None:
    message = 'Property values were not valid: [{"isValid":false,"message":"x","error":"INVALID_EMAIL","name":"email"}]'
    err = classify_response(400, body(category="VALIDATION_ERROR", message=message))
    assert type(err) is BatchValidationError
    assert err.status == 400
    assert err.category == "VALIDATION_ERROR"
    assert str(err).startswith("VALIDATION_ERROR: Property values were not valid")


def test_409_conflict_is_a_batch_validation_error() -> None:
    err = classify_response(409, body(category="CONFLICT", message="Contact already exists. Existing ID: 51"))
    assert type(err) is BatchValidationError
    assert err.status == 409
    assert err.category == "CONFLICT"


def test_400_bytes_body() -> None:
    err = classify_response(400, body(category="VALIDATION_ERROR", message="bad").encode("utf-8"))
    assert isinstance(err, BatchValidationError)
    assert "bad" in str(err)


def test_404_is_a_configuration_error() -> None:
    err = classify_response(404, body(message="Unable to infer object type from: p_widgets"), what="schema of widgets")
    assert type(err) is ConfigurationError
    assert "404" in str(err)
    assert "p_widgets" in str(err)


def test_other_statuses_are_retryable() -> None:
    err = classify_response(418, "I'm a teapot")
    assert type(err) is RetryableError
    assert err.status == 418


def test_long_messages_are_cut() -> None:
    err = classify_response(400, body(category="VALIDATION_ERROR", message="x" * 5000))
    assert len(str(err)) < 700


# -- exceptions --


class FakeApiException(Exception):
    """Shaped like the SDK's generated ApiException: status, body and headers attributes."""

    def __init__(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"({status})")
        self.status = status
        self.body = body
        self.headers = headers


def test_classify_exception_with_status_body_headers() -> None:
    err = classify_exception(FakeApiException(429, body(policyName="TEN_SECONDLY_ROLLING")))
    assert isinstance(err, RetryableError)
    assert err.retry_after == 10

    err = classify_exception(FakeApiException(477, "", {"Retry-After": "5"}))
    assert isinstance(err, RetryableError)
    assert err.retry_after == 5.0

    err = classify_exception(FakeApiException(401, ""))
    assert isinstance(err, AuthenticationError)


def test_classify_exception_status_zero_is_a_transport_failure() -> None:
    err = classify_exception(FakeApiException(0, ""))
    assert type(err) is RetryableError
    assert "unreachable" in str(err)


def test_connection_error_is_retryable() -> None:
    err = classify_exception(ConnectionError("Connection reset by peer\nmore detail"), what="batch read")
    assert type(err) is RetryableError
    assert str(err) == "HubSpot unreachable during batch read: ConnectionError: Connection reset by peer"


def test_timeout_without_message_is_retryable() -> None:
    err = classify_exception(TimeoutError())
    assert type(err) is RetryableError
    assert "TimeoutError" in str(err)


def test_hubsync_errors_pass_through() -> None:
    original: HubsyncError = RecordRejected("bad row")
    assert classify_exception(original) is original


# -- explain_rejection --


def test_explain_rejection_names_property_and_error() -> None:
    message = ('Property values were not valid: [{"isValid":false,"message":"Email address x is invalid",'
               '"error":"INVALID_EMAIL","name":"email"}]')
    reason = explain_rejection(message)
    assert reason == "HubSpot rejected email: INVALID_EMAIL (Email address x is invalid)"


def test_explain_rejection_several_properties() -> None:
    items = [
        {"isValid": False, "message": "not a number", "error": "INVALID_INTEGER", "name": "annualrevenue"},
        {"isValid": False, "message": "bad option", "error": "INVALID_OPTION", "name": "lifecyclestage"},
    ]
    reason = explain_rejection("VALIDATION_ERROR: Property values were not valid: " + json.dumps(items))
    assert "annualrevenue: INVALID_INTEGER" in reason
    assert "lifecyclestage: INVALID_OPTION" in reason


@pytest.mark.parametrize("message", ["Contact already exists. Existing ID: 51", "values: [{not json}]"])
def test_explain_rejection_falls_back_to_the_message(message: str) -> None:
    assert explain_rejection(message) == "HubSpot rejected the record: " + message


def test_a_contact_email_conflict_names_the_existing_record() -> None:
    err = classify_response(409, body(category="CONFLICT", message="Contact already exists. Existing ID: 51"))
    assert (err.existing_id, err.conflict_property, err.conflict_value) == ("51", None, None)


def test_a_custom_unique_conflict_names_the_record_the_property_and_the_value() -> None:
    message = 'A company with the value "ACME-7" for the unique property "sql_company_id" already exists. Existing ID: 9'
    err = classify_response(409, body(category="CONFLICT", message=message))
    assert (err.existing_id, err.conflict_property, err.conflict_value) == ("9", "sql_company_id", "ACME-7")


def test_a_conflict_without_an_existing_id_names_nothing() -> None:
    err = classify_response(409, body(category="CONFLICT", message='Duplicate value "x" for the unique property "p"'))
    assert err.existing_id is None


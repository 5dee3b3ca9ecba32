"""One place that turns a HubSpot response (or a transport failure) into a hubsync error.

- 401/403 -> AuthenticationError (configuration: fix the token or its scopes)
- 404 on an object type -> ConfigurationError
- 400 VALIDATION_ERROR, 409 CONFLICT -> BatchValidationError (the batch is split to find the row)
- 429, 423, 477, 5xx/52x, timeouts, dropped connections -> RetryableError with a delay
- anything else -> RetryableError (unknown errors are retryable; poison catches the persistent ones)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import (
    AuthenticationError,
    BatchValidationError,
    ConfigurationError,
    HubsyncError,
    RetryableError,
)

TEN_SECONDLY_WAIT = 10.0
LOCKED_WAIT = 2.0


def _body(text: Any) -> dict[str, Any]:
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {"message": text[:300]}
    return data if isinstance(data, dict) else {}


def classify_response(status: int, body: Any, headers: Mapping[str, str] | None = None,
                      what: str = "HubSpot request") -> HubsyncError:
    """The error a non-2xx HubSpot answer means."""
    data = _body(body)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    message = str(data.get("message") or "")[:500]
    category = data.get("category") or data.get("errorType")
    cid = data.get("correlationId")
    tail = f" (correlationId {cid})" if cid else ""
    if status == 401:
        return AuthenticationError(
            f"HubSpot refused the access token (401 {category or 'INVALID_AUTHENTICATION'}): "
            f"check HUBSPOT_ACCESS_TOKEN{tail}"
        )
    if status == 403:
        return AuthenticationError(
            f"HubSpot denied {what} (403 {category or 'FORBIDDEN'}): the private app needs the CRM "
            f"read/write scopes for this object: {message}{tail}"
        )
    if status == 429:
        policy = data.get("policyName") or ""
        if policy == "DAILY":
            return RetryableError(
                f"HubSpot's daily API limit is used up (shared by every integration of the portal); it resets at "
                f"midnight in the portal's time zone{tail}", retry_after=3600.0, status=429, quota_exhausted=True)
        return RetryableError(f"HubSpot rate limit reached ({policy or 'RATE_LIMIT'}) on {what}{tail}",
                              retry_after=TEN_SECONDLY_WAIT, status=429)
    if status == 423:
        return RetryableError(f"HubSpot locked the records (423) on {what}{tail}", retry_after=LOCKED_WAIT,
                              status=423)
    retry_after = _retry_after(headers.get("retry-after"))
    if status == 477 or status >= 500:
        return RetryableError(f"HubSpot unavailable ({status}) on {what}: {message}{tail}",
                              retry_after=retry_after, status=status)
    if status == 404:
        return ConfigurationError(f"HubSpot answered 404 to {what}: {message or 'not found'}{tail}")
    if status == 409 and category:
        return conflict_error(f"{category}: {message}{tail}", message, status, category)
    if status in (400, 413, 414, 422) and category:
        return BatchValidationError(f"{category}: {message}{tail}", status=status, category=category)
    if status in (400, 409, 413, 414, 422):
        # no HubSpot error body (a proxy, a gateway page): not evidence against any one row, so the
        # batch is retried and, if it persists, parked — never split into per-row rejections
        return RetryableError(f"HubSpot answered {status} to {what} without an error body: {message[:200]}{tail}",
                              status=status)
    return RetryableError(f"unexpected HubSpot answer {status} to {what}: {message}{tail}",
                          retry_after=retry_after, status=status)


_EXISTING_ID = re.compile(r"Existing ID: (\d+)")
_UNIQUE_VALUE = re.compile(r'with the value "(?P<value>.*)" for the unique property "(?P<prop>[^"]+)"')


def conflict_error(text: str, message: str, status: int = 409, category: str | None = "CONFLICT") -> BatchValidationError:
    """A 409 with what its message names: the record that already holds the value, and the
    property and value when HubSpot says them."""
    existing = _EXISTING_ID.search(message)
    unique = _UNIQUE_VALUE.search(message)
    return BatchValidationError(
        text, status=status, category=category, existing_id=existing.group(1) if existing else None,
        conflict_property=unique.group("prop") if unique else None,
        conflict_value=unique.group("value") if unique else None)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def classify_exception(err: BaseException, what: str = "HubSpot request") -> HubsyncError:
    """Map an SDK or transport exception to a hubsync error.

    Every generated API package has its own ``ApiException`` class, so the SDK's errors are
    recognised by their ``status``/``body`` attributes rather than by class.
    """
    if isinstance(err, HubsyncError):
        return err
    status = getattr(err, "status", None)
    if isinstance(status, int) and status > 0:
        headers = getattr(err, "headers", None) or {}
        return classify_response(status, getattr(err, "body", None), dict(headers), what)
    reason = getattr(err, "reason", None) or err  # urllib3's MaxRetryError wraps the real cause
    text = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    if "Failed to establish a new connection" in text:
        text = "connection refused" if "refused" in text.lower() else "cannot connect"
    return RetryableError(f"HubSpot unreachable during {what}: {type(reason).__name__}: {text[:200]}")


_EMBEDDED = re.compile(r"(\[\{.*\}\])", re.S)


def invalid_properties(message: str) -> list[tuple[str, str]]:
    """(property, HubSpot's message) for each invalid value a validation error lists."""
    match = _EMBEDDED.search(message)
    if not match:
        return []
    try:
        items = json.loads(match.group(1))
    except ValueError:
        return []
    return [(str(i.get("name")), str(i.get("message") or "")) for i in items if isinstance(i, dict) and i.get("name")]


def explain_rejection(message: str) -> str:
    """A short reason from HubSpot's validation message, whose detail is JSON inside the text."""
    match = _EMBEDDED.search(message)
    if match:
        try:
            items = json.loads(match.group(1))
            parts = [
                f"{i.get('name', '?')}: {i.get('error', 'INVALID')} ({i.get('message', '')})".strip()
                for i in items if isinstance(i, dict)
            ]
            if parts:
                return "HubSpot rejected " + "; ".join(parts)
        except ValueError:
            pass
    return "HubSpot rejected the record: " + message[:500]

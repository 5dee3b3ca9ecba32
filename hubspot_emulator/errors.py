"""HubSpot's error shapes: the top-level error body and the per-input ``StandardError``."""

from __future__ import annotations

import uuid
from typing import Any


def error_body(
    message: str,
    category: str,
    *,
    sub_category: str | None = None,
    context: dict[str, list[str]] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """HubSpot's top-level error body (deserialises as the SDK's ``Error`` model)."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    body["context"] = context or {}
    body["errors"] = errors or []
    body["links"] = {}
    return body


def standard_error(
    category: str, message: str, context: dict[str, list[str]], *, sub_category: str | None = None
) -> dict[str, Any]:
    """One entry of ``errors[]`` in a 207 batch response (the SDK's ``StandardError``)."""
    error: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }
    if sub_category:
        error["subCategory"] = sub_category
    return error


class ApiError(Exception):
    """A non-2xx answer: ``status`` and HubSpot's error ``body``."""

    def __init__(self, status: int, message: str, category: str, **kwargs: Any) -> None:
        super().__init__(f"{status} {category}: {message}")
        self.status = status
        self.body = error_body(message, category, **kwargs)


def validation_error(message: str, **kwargs: Any) -> ApiError:
    """400 ``VALIDATION_ERROR``: the whole call fails and nothing is written."""
    return ApiError(400, message, "VALIDATION_ERROR", **kwargs)

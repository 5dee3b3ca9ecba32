"""The envelope every batch endpoint shares: ``{"inputs": [...]}`` in, ``BatchResponse`` out."""

from __future__ import annotations

from typing import Any

from .errors import validation_error
from .properties import now_iso

MAX_BATCH_INPUTS = 100


def batch_inputs(body: Any, limit: int = MAX_BATCH_INPUTS) -> list[dict[str, Any]]:
    """The ``inputs`` of a batch body; 400 when malformed or longer than ``limit``."""
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: the request body must be a JSON object")
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error("Invalid input JSON: 'inputs' must be an array")
    if len(inputs) > limit:
        raise validation_error(f"Batch input size {len(inputs)} exceeds the maximum of {limit} inputs")
    for item in inputs:
        if not isinstance(item, dict):
            raise validation_error("Invalid input JSON: every element of 'inputs' must be an object")
    return inputs


def properties_of(item: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    """The ``properties`` object of an input (``{}`` when absent and not ``required``)."""
    props = item.get("properties")
    if props is None and not required:
        return {}
    if not isinstance(props, dict):
        raise validation_error("Invalid input JSON: 'properties' must be an object of property values")
    return props


def id_of(item: Any, field: str = "id") -> str:
    """A record id as a non-empty string (HubSpot accepts ``1`` for ``"1"``); 400 otherwise."""
    value = item.get(field) if isinstance(item, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise validation_error(f"Invalid input JSON: every input needs a non-empty string '{field}'")
    return value


def batch_response(
    results: list[dict[str, Any]], started: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``status``/``results``/timestamps, plus ``numErrors`` and ``errors`` when there are errors."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": started,
        "startedAt": started,
        "completedAt": now_iso(),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body

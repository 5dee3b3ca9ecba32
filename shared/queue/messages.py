"""Queue messages: a versioned, validated JSON body.

A message names an object and the source keys (with the version seen by the planner) of at
most one HubSpot batch; the worker re-reads the current rows. Messages stay small, data is
always fresh, and no personal data is parked in queues or poison queues.

Storage queues take at most 64 KiB per message *after* base64 encoding (4/3 growth), so the
JSON body is kept under ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import MalformedMessage

QUEUE_MESSAGE_LIMIT = 65_536
MAX_BODY_BYTES = (QUEUE_MESSAGE_LIMIT // 4) * 3 - 1024  # room for base64 and the envelope


class KeyRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    k: list[Any] = Field(min_length=1, description="Source key values, in the configured key order.")
    v: str = Field(description="Source version the planner saw.")


class BatchMessage(BaseModel):
    """Version 1 of the batch message."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1] = Field(1, alias="sv")
    kind: Literal["upsert"] = "upsert"
    run_id: str = Field(min_length=1, max_length=40)
    batch_id: str = Field(min_length=1, max_length=80)
    object: str = Field(min_length=1, max_length=64)
    keys: list[KeyRef] = Field(min_length=1, max_length=100)
    deferrals: int = Field(0, ge=0, description="Times this batch was re-queued for a rate limit.")

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, body: str | bytes) -> BatchMessage:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise MalformedMessage(f"message body is not JSON: {err}") from None
        if not isinstance(data, dict):
            raise MalformedMessage("message body is not a JSON object")
        if data.get("sv") not in (None, 1):
            raise MalformedMessage(f"unsupported message schema version {data.get('sv')!r} (this worker reads 1)")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5]
            )
            raise MalformedMessage(f"message does not match schema v1: {details}") from None


@dataclass(frozen=True)
class PackedMessage:
    """A batch message as the planner makes it: its body serialised once, straight from the keys
    (no model object per key); ``message()`` validates it back into a ``BatchMessage``."""

    run_id: str
    batch_id: str
    object: str
    body: str
    size: int  # keys in the message

    def to_json(self) -> str:
        return self.body

    def message(self) -> BatchMessage:
        return BatchMessage.from_json(self.body)

    @property
    def keys(self) -> list[KeyRef]:
        return self.message().keys


def batch_body(run_id: str, batch_id: str, object_name: str, keys: list[tuple[list[Any], str]]) -> str:
    """The JSON of ``BatchMessage(...).to_json()`` for these (key values, version) pairs, written
    directly (what the planner does for every message of a backfill)."""
    return json.dumps({"sv": 1, "kind": "upsert", "run_id": run_id, "batch_id": batch_id, "object": object_name,
                       "keys": [{"k": k, "v": v} for k, v in keys], "deferrals": 0},
                      separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encoded_size(body: str) -> int:
    """Bytes the message takes in a Storage queue (base64 of its UTF-8)."""
    return len(base64.b64encode(body.encode("utf-8")))


def peek_batch_id(body: str) -> str | None:
    """The batch id of a body, if it has one, even when the body is otherwise malformed."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    value = data.get("batch_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None

"""The key and version codec: how a source row is named in state, messages and positions.

A *version* is a row's watermark value in a canonical text form that sorts like the value
itself (fixed-width hex for rowversion, zero-padded integers, ISO timestamps), so state can
compare versions without knowing their type. A *source key* is the JSON of a row's key
values, or, for a key too long for the state column, the start of that JSON and a hash.
Pure code, no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import SourceError

Key = tuple[Any, ...]
MAX_KEY_TEXT = 400  # the state table's source_key column
HASHED_KEY_MARK = "...#sha256:"


def encode_version(kind: str, value: Any) -> str:
    """Canonical, sortable text of a watermark value."""
    if value is None:
        raise SourceError("a row has a NULL watermark; give the watermark column a NOT NULL default")
    if kind == "rowversion":
        if isinstance(value, int):
            return f"{value:016x}"
        return bytes(value).hex().rjust(16, "0")
    if kind == "integer":
        number = int(value)
        if number < 0:
            raise SourceError(f"watermark value {number} is negative; integer watermarks must be >= 0")
        return f"{number:020d}"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).strftime("%Y-%m-%dT%H:%M:%S.%f")
    raise SourceError(f"watermark value of type {type(value).__name__} does not fit kind {kind!r}")


def decode_version(kind: str, text: str) -> Any:
    """The value to bind in a query for a canonical version."""
    if kind == "rowversion":
        return bytes.fromhex(text)
    if kind == "integer":
        return int(text)
    return dt.datetime.fromisoformat(text)


def jsonable_key(key: Sequence[Any]) -> list[Any]:
    """Key values as JSON values: numbers and strings as they are, dates ISO, anything else as text."""
    return [_jsonable(v) for v in key]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def key_to_json(key: Sequence[Any]) -> str:
    """A source key as stable text identifying its row in state: its JSON, or for a key too long
    for the state column, the start of its JSON and a hash of all of it."""
    text = json.dumps(jsonable_key(key), separators=(",", ":"))
    if len(text) <= MAX_KEY_TEXT:
        return text
    suffix = HASHED_KEY_MARK + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text[: MAX_KEY_TEXT - len(suffix)] + suffix


def key_from_json(source_key: str) -> Key | None:
    """The key values of a source key, or None for a hashed (too long) one, which cannot be re-read."""
    if HASHED_KEY_MARK in source_key:
        return None
    return tuple(json.loads(source_key))


@dataclass(frozen=True)
class Position:
    """Where a delta resumes: after this (version, key), read from ``origin`` (the table, watermark
    column and kind the versions came from; None in positions saved before hubsync kept it)."""

    version: str
    key: Key | None = None
    origin: str | None = None

    def to_json(self) -> str:
        data = {"version": self.version, "key": jsonable_key(self.key) if self.key else None}
        if self.origin:
            data["origin"] = self.origin
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Position:
        data = json.loads(text)
        return cls(data["version"], tuple(data["key"]) if data.get("key") else None, data.get("origin"))

"""shared/queue/messages.py: the versioned JSON body of a queue message."""

from __future__ import annotations

import base64
import json

import pytest

from shared.errors import MalformedMessage
from shared.queue.messages import (
    MAX_BODY_BYTES,
    QUEUE_MESSAGE_LIMIT,
    BatchMessage,
    KeyRef,
    encoded_size,
    peek_batch_id,
)

pytestmark = pytest.mark.unit


def make_message(**overrides: object) -> BatchMessage:
    data: dict = {
        "run_id": "20261129T162905-61ec9cfe",
        "batch_id": "20261129T162905-61ec9cfe:contacts:0",
        "object": "contacts",
        "keys": [KeyRef(k=[1], v="0000000000000001"), KeyRef(k=["EU", 2], v="0000000000000002")],
    }
    data.update(overrides)
    return BatchMessage(**data)


def good_body(**overrides: object) -> dict:
    body = {
        "sv": 1, "kind": "upsert", "run_id": "r1", "batch_id": "r1:contacts:0", "object": "contacts",
        "keys": [{"k": [1], "v": "00000000000000000001"}], "deferrals": 0,
    }
    body.update(overrides)
    return body


def malformed(body: str | bytes) -> str:
    with pytest.raises(MalformedMessage) as info:
        BatchMessage.from_json(body)
    return str(info.value)


def test_round_trip() -> None:
    msg = make_message(deferrals=2)
    back = BatchMessage.from_json(msg.to_json())

    assert back == msg
    assert back.keys[1].k == ["EU", 2]
    assert back.deferrals == 2


def test_json_uses_the_sv_alias() -> None:
    data = json.loads(make_message().to_json())

    assert data["sv"] == 1
    assert "schema_version" not in data
    assert set(data) == {"sv", "kind", "run_id", "batch_id", "object", "keys", "deferrals"}
    assert data["keys"][0] == {"k": [1], "v": "0000000000000001"}


def test_from_json_accepts_bytes_and_a_missing_sv() -> None:
    body = good_body()
    del body["sv"]
    msg = BatchMessage.from_json(json.dumps(body).encode("utf-8"))
    assert msg.schema_version == 1
    assert msg.keys[0].k == [1]


def test_models_are_frozen() -> None:
    msg = make_message()
    with pytest.raises(Exception, match="frozen"):
        msg.run_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("body", ["not json", "{", "", b"\xff\xfe\x00"])
def test_not_json(body: str | bytes) -> None:
    assert malformed(body).startswith("message body is not JSON")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_not_an_object(body: str) -> None:
    assert malformed(body) == "message body is not a JSON object"


@pytest.mark.parametrize("sv", [2, "1", 0])
def test_wrong_schema_version(sv: object) -> None:
    message = malformed(json.dumps(good_body(sv=sv)))
    assert message == f"unsupported message schema version {sv!r} (this worker reads 1)"


@pytest.mark.parametrize("missing", ["run_id", "batch_id", "object", "keys"])
def test_missing_keys_are_named(missing: str) -> None:
    body = good_body()
    del body[missing]
    message = malformed(json.dumps(body))
    assert message.startswith("message does not match schema v1: ")
    assert f"{missing}: Field required" in message


def test_too_many_keys() -> None:
    body = good_body(keys=[{"k": [i], "v": "1"} for i in range(101)])
    message = malformed(json.dumps(body))
    assert message.startswith("message does not match schema v1: keys:")
    assert "at most 100" in message


def test_exactly_100_keys_is_fine() -> None:
    body = good_body(keys=[{"k": [i], "v": "1"} for i in range(100)])
    assert len(BatchMessage.from_json(json.dumps(body)).keys) == 100


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"keys": []}, "keys: List should have at least 1 item"),
        ({"keys": [{"k": [], "v": "1"}]}, "keys.0.k: List should have at least 1 item"),
        ({"keys": [{"k": [1]}]}, "keys.0.v: Field required"),
        ({"kind": "delete"}, "kind: Input should be 'upsert'"),
        ({"run_id": ""}, "run_id: String should have at least 1 character"),
        ({"deferrals": -1}, "deferrals: Input should be greater than or equal to 0"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_schema_violations_are_explained(overrides: dict, fragment: str) -> None:
    message = malformed(json.dumps(good_body(**overrides)))
    assert message.startswith("message does not match schema v1: ")
    assert fragment in message


def test_explanation_is_capped_at_five_problems() -> None:
    body = {"sv": 1, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
    message = malformed(json.dumps(body))
    details = message.removeprefix("message does not match schema v1: ")
    assert len(details.split("; ")) == 5


def test_encoded_size_is_base64_length() -> None:
    for body in ["", "a", "ab", "abc", "é", make_message().to_json()]:
        assert encoded_size(body) == len(base64.b64encode(body.encode("utf-8")))
    assert encoded_size("abc") == 4
    assert encoded_size("abcd") == 8
    assert encoded_size("é") == 4  # two UTF-8 bytes


def test_max_body_fits_the_queue_after_base64() -> None:
    assert encoded_size("x" * MAX_BODY_BYTES) <= QUEUE_MESSAGE_LIMIT
    assert QUEUE_MESSAGE_LIMIT == 65_536


@pytest.mark.parametrize(
    "body, expected",
    [
        (json.dumps(good_body()), "r1:contacts:0"),
        (json.dumps({"batch_id": "b-7", "sv": 9}), "b-7"),  # otherwise malformed
        (json.dumps({"batch_id": 7}), None),
        (json.dumps({"run_id": "r"}), None),
        ("[1]", None),
        ("not json", None),
        ("", None),
    ],
)
def test_peek_batch_id(body: str, expected: str | None) -> None:
    assert peek_batch_id(body) == expected

"""shared/sync/planner.py pack_messages: changed rows -> queue messages of bounded size."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from shared.config import ObjectConfig, parse_config
from shared.keys import encode_version, key_to_json
from shared.queue.messages import MAX_BODY_BYTES, QUEUE_MESSAGE_LIMIT, BatchMessage, encoded_size
from shared.source.delta import DeltaRow
from shared.sync.planner import new_run_id, pack_messages

pytestmark = pytest.mark.unit

RUN_ID = "20261129T162905-61ec9cfe"


def make_obj(name: str = "contacts", batch_size: int = 100, key: list[str] | None = None) -> ObjectConfig:
    return parse_config({"objects": [{
        "name": name, "object_type": "contacts", "table": "customers", "key": key or ["id"],
        "watermark": {"column": "rv", "kind": "integer"}, "id_property": "email",
        "fields": {"email": {"column": "email"}}, "batch_size": batch_size,
    }]}).objects[0]


def rows(n: int, start: int = 1) -> list[DeltaRow]:
    return [DeltaRow((i,), encode_version("integer", i)) for i in range(start, start + n)]


def test_250_rows_make_three_messages() -> None:
    source = rows(250)
    packed = list(pack_messages(RUN_ID, make_obj(), source, first_seq=0))

    assert [len(chunk) for _, chunk in packed] == [100, 100, 50]
    messages = [m.message() for m, _ in packed]  # each body validates as a BatchMessage
    assert [len(m.keys) for m in messages] == [100, 100, 50]
    assert [m.batch_id for m in messages] == [f"{RUN_ID}:contacts:{i}" for i in range(3)]
    assert len({m.batch_id for m in messages}) == 3
    assert all(m.run_id == RUN_ID and m.object == "contacts" for m in messages)
    # every row once, in order, with its version
    flat = [(tuple(k.k), k.v) for m in messages for k in m.keys]
    assert flat == [(r.key, r.version) for r in source]
    # each chunk is exactly the rows its message names
    for msg, chunk in packed:
        assert [tuple(k.k) for k in msg.keys] == [r.key for r in chunk]
        # written directly, the body is what the model itself would write
        assert msg.to_json() == msg.message().to_json()


def test_batch_ids_are_deterministic_and_start_at_first_seq() -> None:
    first = [m.batch_id for m, _ in pack_messages(RUN_ID, make_obj(), rows(250), first_seq=7)]
    again = [m.batch_id for m, _ in pack_messages(RUN_ID, make_obj(), rows(250), first_seq=7)]
    assert first == again == [f"{RUN_ID}:contacts:{i}" for i in (7, 8, 9)]
    assert [m.to_json() for m, _ in pack_messages(RUN_ID, make_obj(), rows(250), 7)] == \
           [m.to_json() for m, _ in pack_messages(RUN_ID, make_obj(), rows(250), 7)]


def test_object_batch_size_is_respected() -> None:
    packed = list(pack_messages(RUN_ID, make_obj(batch_size=7), rows(20), 0))
    assert [len(c) for _, c in packed] == [7, 7, 6]


def test_no_rows_no_messages() -> None:
    assert list(pack_messages(RUN_ID, make_obj(), [], 0)) == []


def test_long_keys_are_split_to_fit_a_queue_message() -> None:
    source = [DeltaRow((f"{i:04d}" + "k" * 1996,), encode_version("integer", i)) for i in range(100)]
    packed = list(pack_messages(RUN_ID, make_obj(), source, 0))

    assert len(packed) > 1
    assert all(m is not None for m, _ in packed)
    for msg, chunk in packed:
        body = msg.to_json()
        assert len(body.encode("utf-8")) <= MAX_BODY_BYTES
        assert encoded_size(body) <= QUEUE_MESSAGE_LIMIT
        assert len(msg.keys) == len(chunk)
    assert [r for _, chunk in packed for r in chunk] == source
    assert len({m.batch_id for m, _ in packed}) == len(packed)


def test_multibyte_keys_are_measured_in_utf8_bytes() -> None:
    source = [DeltaRow((f"{i:03d}" + "é" * 997,), str(i)) for i in range(100)]  # ~2 KB of UTF-8 each
    for msg, _ in pack_messages(RUN_ID, make_obj(), source, 0):
        assert msg is not None
        assert encoded_size(msg.to_json()) <= QUEUE_MESSAGE_LIMIT


def test_split_respects_a_smaller_max_bytes() -> None:
    packed = list(pack_messages(RUN_ID, make_obj(), rows(100), 0, max_bytes=1_000))
    assert len(packed) > 1
    for msg, _ in packed:
        assert len(msg.to_json().encode("utf-8")) <= 1_000
    assert sum(len(c) for _, c in packed) == 100


def test_a_key_too_big_for_any_message_is_yielded_alone() -> None:
    huge = DeltaRow(("x" * 5_000,), "v-huge")
    small = rows(3)
    packed = list(pack_messages(RUN_ID, make_obj(), [small[0], huge, *small[1:]], 0, max_bytes=2_000))

    assert (None, [huge]) in packed
    sent = [r for m, chunk in packed if m is not None for r in chunk]
    assert sent == small
    # the unqueueable row still consumes a sequence number, so batch ids never repeat
    ids = [m.batch_id for m, _ in packed if m is not None]
    assert len(ids) == len(set(ids))


def test_single_huge_key_at_the_default_limit() -> None:
    huge = DeltaRow(("x" * (MAX_BODY_BYTES + 1),), "v")
    assert list(pack_messages(RUN_ID, make_obj(), [huge], 0)) == [(None, [huge])]


def test_composite_keys_are_kept_whole() -> None:
    source = [DeltaRow(("EU", i), str(i)) for i in range(3)]
    (msg, _), = pack_messages(RUN_ID, make_obj(key=["region", "id"]), source, 0)
    assert [k.k for k in msg.keys] == [["EU", 0], ["EU", 1], ["EU", 2]]


def test_new_run_id_shape() -> None:
    run_id = new_run_id()
    stamp, suffix = run_id.split("-")
    dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    assert len(suffix) == 8
    int(suffix, 16)
    assert new_run_id() != run_id


def test_longest_allowed_object_name_still_packs() -> None:
    obj = make_obj(name="a" * 40)  # the longest name config.py accepts
    packed = list(pack_messages(new_run_id(), obj, rows(1), 0))
    assert len(packed) == 1
    assert packed[0][0] is not None


@pytest.mark.parametrize(
    "key",
    [
        (42,),
        ("EU", 7),
        (decimal.Decimal("1200.50"),),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"),),
        (dt.date(2024, 2, 29),),
    ],
)
def test_message_keys_match_the_state_key_after_a_round_trip(key: tuple[Any, ...]) -> None:
    (msg, _), = pack_messages(RUN_ID, make_obj(), [DeltaRow(key, "v")], 0)
    back = BatchMessage.from_json(msg.to_json())
    assert key_to_json(tuple(back.keys[0].k)) == key_to_json(key)


def test_datetime_key_matches_the_state_key_after_a_round_trip() -> None:
    key = (dt.datetime(2024, 2, 29, 10, 0),)
    (msg, _), = pack_messages(RUN_ID, make_obj(), [DeltaRow(key, "v")], 0)
    back = BatchMessage.from_json(msg.to_json())
    assert key_to_json(tuple(back.keys[0].k)) == key_to_json(key)


@pytest.mark.parametrize("key", [(1,), ("Zürich", "東京"), ("quote\"back\\slash", -7), (2.5,), ("emoji 🎉",),
                                 ("line\nbreak\ttab",)])
def test_a_body_written_directly_equals_the_models_json(key: tuple[Any, ...]) -> None:
    from shared.queue.messages import KeyRef, batch_body

    direct = batch_body(RUN_ID, f"{RUN_ID}:contacts:0", "contacts", [(list(key), "0001")])
    model = BatchMessage(run_id=RUN_ID, batch_id=f"{RUN_ID}:contacts:0", object="contacts",
                         keys=[KeyRef(k=list(key), v="0001")]).to_json()
    assert direct == model

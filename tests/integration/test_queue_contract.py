"""One contract for both queue backends: the in-process MemoryQueue (local runs) must behave as
the Azure Storage queue does (Azurite here), since the CLI drains the first with the semantics of
the Functions host on the second."""

from __future__ import annotations

import time
import uuid

import pytest

from shared.queue.backends import LeaseLost, MemoryQueue, MessageTooLarge, StorageQueue

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "azurite"])
def queue(request: pytest.FixtureRequest):
    name = f"contract-{uuid.uuid4().hex[:12]}"
    if request.param == "memory":
        return MemoryQueue(name)
    return StorageQueue.connect(name, {"AzureWebJobsStorage": request.getfixturevalue("azurite")}, create=True)


def test_a_message_goes_round_trip_with_its_body_and_a_dequeue_count(queue) -> None:
    body = '{"sv": 1, "naïve": "ü→✓"}'
    queue.send(body)
    [got] = queue.receive(1, 30)
    assert (got.body, got.dequeue_count) == (body, 1)
    assert queue.receive(1, 30) == []  # invisible while leased
    queue.delete(got)
    assert queue.approximate_count() == 0


def test_a_released_message_comes_back_with_its_count_grown(queue) -> None:
    queue.send("again")
    [first] = queue.receive(1, 30)
    queue.release(first, 0)
    [second] = queue.receive(1, 30)
    assert (second.body, second.dequeue_count) == ("again", 2)


def test_a_stale_lease_cannot_delete(queue) -> None:
    queue.send("leased")
    [first] = queue.receive(1, 1)
    time.sleep(1.5)  # the lease runs out; another receiver takes it
    [second] = queue.receive(1, 30)
    with pytest.raises(LeaseLost):
        queue.delete(first)
    queue.delete(second)


def test_a_delayed_message_is_invisible_until_its_time(queue) -> None:
    queue.send("later", visibility_timeout=2)
    assert queue.receive(1, 30) == []
    time.sleep(2.5)
    [got] = queue.receive(1, 30)
    assert got.body == "later"


def test_a_body_over_64_kib_encoded_is_refused_before_sending(queue) -> None:
    with pytest.raises(MessageTooLarge):
        queue.send("x" * 50_000)  # 66,668 bytes once base64-encoded
    assert queue.approximate_count() == 0

"""shared/queue/backends.py MemoryQueue: Storage-queue semantics in process, with a fake clock."""

from __future__ import annotations

import pytest

from shared.queue.backends import LeaseLost, MemoryQueue, MessageTooLarge, QueuedMessage
from shared.queue.messages import QUEUE_MESSAGE_LIMIT, encoded_size

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> MemoryQueue:
    return MemoryQueue("hubsync-batches", clock=clock)


def test_send_and_receive(queue: MemoryQueue) -> None:
    queue.send("first")
    (msg,) = queue.receive()

    assert msg.body == "first"
    assert msg.dequeue_count == 1
    assert msg.pop_receipt
    assert queue.name == "hubsync-batches"


def test_messages_come_out_in_order(queue: MemoryQueue) -> None:
    for i in range(5):
        queue.send(f"m{i}")
    assert [m.body for m in queue.receive(max_messages=3)] == ["m0", "m1", "m2"]
    assert [m.body for m in queue.receive(max_messages=3)] == ["m3", "m4"]
    assert queue.receive() == []


def test_received_message_is_invisible_until_the_timeout(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("x")
    (first,) = queue.receive(visibility_timeout=30)

    assert queue.receive() == []
    clock.now += 29.9
    assert queue.receive() == []
    clock.now += 0.1
    (second,) = queue.receive(visibility_timeout=30)
    assert second.id == first.id
    assert second.dequeue_count == 2
    assert second.pop_receipt != first.pop_receipt
    assert queue.approximate_count() == 1


def test_dequeue_count_grows_with_each_delivery(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("x")
    counts = []
    for _ in range(4):
        (msg,) = queue.receive(visibility_timeout=5)
        counts.append(msg.dequeue_count)
        clock.now += 5
    assert counts == [1, 2, 3, 4]


def test_send_with_a_visibility_delay(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("later", visibility_timeout=10)
    assert queue.receive() == []
    assert queue.approximate_count() == 1
    clock.now += 10
    assert [m.body for m in queue.receive()] == ["later"]


def test_delete_removes_the_message(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("x")
    (msg,) = queue.receive(visibility_timeout=1)
    queue.delete(msg)
    clock.now += 100
    assert queue.receive() == []
    assert queue.approximate_count() == 0


def test_delete_with_a_stale_pop_receipt_is_refused(queue: MemoryQueue, clock: Clock) -> None:
    """As Azure's PopReceiptMismatch: the lease ran out and another receiver holds the message."""
    queue.send("x")
    (stale,) = queue.receive(visibility_timeout=1)
    clock.now += 1
    (fresh,) = queue.receive(visibility_timeout=1)

    with pytest.raises(LeaseLost):
        queue.delete(stale)
    assert queue.approximate_count() == 1
    with pytest.raises(LeaseLost):
        queue.delete(QueuedMessage(fresh.id, fresh.body, fresh.dequeue_count, "made-up-receipt"))
    assert queue.approximate_count() == 1
    queue.delete(fresh)
    assert queue.approximate_count() == 0


def test_delete_of_an_unknown_message_is_ignored(queue: MemoryQueue) -> None:
    queue.send("x")
    queue.delete(QueuedMessage("nope", "x", 1, "r"))
    assert queue.approximate_count() == 1


def test_release_with_a_delay(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("x")
    (msg,) = queue.receive(visibility_timeout=300)
    queue.release(msg, visibility_timeout=5)

    clock.now += 4.9
    assert queue.receive() == []
    clock.now += 0.1
    (again,) = queue.receive()
    assert again.dequeue_count == 2


def test_release_at_once(queue: MemoryQueue) -> None:
    queue.send("x")
    (msg,) = queue.receive(visibility_timeout=300)
    queue.release(msg, visibility_timeout=0)
    assert [m.body for m in queue.receive()] == ["x"]


def test_release_with_a_stale_receipt_is_refused(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("x")
    (stale,) = queue.receive(visibility_timeout=1)
    clock.now += 1
    queue.receive(visibility_timeout=300)
    with pytest.raises(LeaseLost):
        queue.release(stale, visibility_timeout=0)
    assert queue.receive() == []


def test_release_extends_a_lease_and_renews_the_receipt(queue: MemoryQueue, clock: Clock) -> None:
    queue.send("x")
    (msg,) = queue.receive(visibility_timeout=10)
    first = msg.pop_receipt
    clock.now += 9
    queue.release(msg, visibility_timeout=10)  # what the drain's lease does while a batch runs
    assert msg.pop_receipt != first
    clock.now += 9
    assert queue.receive() == []  # still leased
    queue.delete(msg)  # with the renewed receipt
    assert queue.approximate_count() == 0


def test_body_over_the_limit_after_base64_is_refused(queue: MemoryQueue) -> None:
    limit_raw = QUEUE_MESSAGE_LIMIT // 4 * 3  # 49,152 bytes encode to exactly 65,536
    assert encoded_size("x" * limit_raw) == QUEUE_MESSAGE_LIMIT
    queue.send("x" * limit_raw)

    with pytest.raises(MessageTooLarge, match="65540 bytes encoded"):
        queue.send("x" * (limit_raw + 1))
    assert queue.approximate_count() == 1


def test_multibyte_body_is_measured_after_encoding(queue: MemoryQueue) -> None:
    body = "é" * 30_000  # 30,000 characters, 60,000 UTF-8 bytes, 80,000 base64
    assert len(body) < QUEUE_MESSAGE_LIMIT
    with pytest.raises(MessageTooLarge):
        queue.send(body)


def test_peek_all_in_send_order(queue: MemoryQueue) -> None:
    queue.send("a")
    queue.send("b")
    queue.receive()
    assert queue.peek_all() == ["a", "b"]

"""StorageQueue against Azurite: the same semantics the in-process twin promises."""

from __future__ import annotations

import time
import uuid

import pytest

from shared.queue.backends import LeaseLost, StorageQueue


@pytest.fixture
def queue(azurite):
    q = StorageQueue.connect(f"t{uuid.uuid4().hex[:12]}", {"AzureWebJobsStorage": azurite}, create=True)
    yield q
    q._client.delete_queue()


def test_dequeue_count_visibility_and_lease_renewal(queue):
    queue.send('{"x": 1}')
    [first] = queue.receive(1, visibility_timeout=1)
    assert first.dequeue_count == 1 and first.body == '{"x": 1}'
    receipt = first.pop_receipt
    queue.release(first, 30)  # extend the lease: a new pop receipt
    assert first.pop_receipt != receipt
    time.sleep(1.5)
    assert queue.receive(1, 1) == []  # still leased after the original second ran out
    queue.release(first, 0)
    [again] = queue.receive(1, 1)
    assert again.dequeue_count == 2
    with pytest.raises(LeaseLost):
        queue.delete(first)  # its receipt is stale now
    queue.delete(again)
    assert queue.approximate_count() == 0


def test_delayed_send_is_invisible_until_due(queue):
    queue.send("later", visibility_timeout=2)
    assert queue.receive(1, 1) == []
    time.sleep(2.5)
    [msg] = queue.receive(1, 1)
    assert msg.body == "later"

"""A batch HubSpot keeps throttling is deferred, never failed: it spends none of its delivery
attempts (so it never reaches the poison queue for being throttled), and each deferral replaces
the message rather than adding one, so the queue's length, which the platform scales out on,
does not grow."""

from __future__ import annotations

import sqlalchemy as sa

from hubspot_emulator import Emulator
from shared.queue.backends import MemoryQueue
from shared.queue.queue_handler import MAX_DEFERRALS
from tests.conftest import TOKEN
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_batch_throttled_again_and_again_is_deferred_without_spending_a_delivery(tmp_path) -> None:
    clock = Clock()
    queue, poison = MemoryQueue("batches", clock=clock), MemoryQueue("batches-poison", clock=clock)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    create_customers(engine, 5)
    config = config_dict()
    config["hubspot"]["max_attempts"] = 2
    with Emulator(token=TOKEN, window_seconds=0.05) as emu:  # a short window: the budget's holds are short
        rt = make_runtime(engine, emu, config=config, queue=queue, poison_queue=poison)
        rt.planner().plan("timer")
        handler = rt.handler()
        for n in range(MAX_DEFERRALS + 5):  # more than the daily limit's deferrals
            emu.inject_fault(429, times=2, path_contains="batch/upsert")  # every attempt of this delivery
            [message] = queue.receive(1, 30)
            assert message.dequeue_count == 1, f"deferral {n} spent a delivery attempt"
            assert handler.handle(message.body, message.dequeue_count, message.id) == "deferred"
            queue.delete(message)
            assert queue.approximate_count() == 1  # the delayed copy replaced it
            assert queue.receive(1, 30) == []  # and is not visible before its delay
            clock.now += 11
        [message] = queue.receive(1, 30)
        assert handler.handle(message.body, message.dequeue_count, message.id) == "done"
        assert len(emu.records("contacts")) == 5
        assert poison.approximate_count() == 0

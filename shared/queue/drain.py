"""Drain a queue with N threads, with the Functions host's queue-trigger semantics.

The CLI runs batches through the same handler the queue function runs. A failed message
becomes visible again after a backoff; after ``max_dequeue_count`` deliveries it moves to the
poison queue, and the poison queue is then drained into the durable poison store, as the
poison function does in Azure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.errors import Action, RetryableError, judge
from shared.queue.backends import LeaseLost, Queue, QueuedMessage
from shared.queue.queue_handler import MessageHandler

log = logging.getLogger("hubsync.drain")
LONGEST_WAIT = 60.0  # seconds a run waits for HubSpot; a longer deferral (the daily limit) stops it


@dataclass
class DrainResult:
    """How a drain ended (``fatal``: what stopped it early) and what happened to the messages."""

    fatal: BaseException | None = None
    errors: list[str] = field(default_factory=list)
    done: int = 0
    parked: int = 0  # malformed: straight to the poison store
    deferred: int = 0
    retried: int = 0
    poisoned: int = 0  # failed every delivery


def drain(
    queue: Queue,
    poison_queue: Queue,
    handler: MessageHandler,
    workers: int = 4,
    max_dequeue_count: int = 5,
    visibility_timeout: float = 30.0,
    base_backoff: float = 1.0,
    on_message: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    give_up_after: int | None = None,
    planning: threading.Event | None = None,
    cancel: threading.Event | None = None,
) -> DrainResult:
    """Process every message; stop early on a configuration error, or when ``give_up_after``
    deliveries in a row failed with a transient error and nothing succeeding (HubSpot or the
    database is down): the messages stay queued and the caller leaves the watermark where it was.

    The default is ``max_dequeue_count``: a batch whose every delivery met an outage is never
    parked by a run, however small the delta, since the failure was not the batch's; the next run
    sends it. ``give_up_after`` larger than that behaves as the Functions host, which parks it.

    ``planning``: the planner is still enqueuing (it runs beside the drain); an empty queue ends
    the drain only once it is set. ``cancel``: stop after the messages in hand."""
    result = DrainResult()
    lock = threading.Lock()
    busy = [0]
    failures_in_a_row = [0]
    limit = give_up_after if give_up_after is not None else max_dequeue_count
    stop = threading.Event()

    def settle(message: QueuedMessage, action: Callable[[], None]) -> None:
        try:
            action()
        except LeaseLost as err:  # the lease ran out anyway; the other receiver settles it
            log.warning("message %s: %s", message.id, err)

    def loop() -> None:
        while not stop.is_set() and not (cancel is not None and cancel.is_set()):
            try:
                batch = queue.receive(1, visibility_timeout)
            except Exception as err:  # noqa: BLE001 - the queue itself is unavailable
                with lock:
                    result.fatal = result.fatal or RetryableError(f"the queue is unavailable: {err}")
                stop.set()
                return
            if not batch:
                with lock:
                    idle = busy[0] == 0
                if idle and queue.approximate_count() == 0 and (planning is None or planning.is_set()):
                    return
                sleep(0.05)
                continue
            message = batch[0]
            with lock:
                busy[0] += 1
            lease = _Lease(queue, message, visibility_timeout)
            try:
                try:
                    outcome = handler.handle(message.body, message.dequeue_count, message.id)
                finally:
                    lease.stop()
                settle(message, lambda m=message: queue.delete(m))
                with lock:
                    setattr(result, outcome, getattr(result, outcome) + 1)
                    failures_in_a_row[0] = 0
            except Exception as err:  # noqa: BLE001 - every failure is retried, parked or stops the run
                verdict = judge(err)
                with lock:
                    if verdict.action is Action.STOP:  # the operator must fix something
                        result.fatal = result.fatal or err
                        stop.set()
                    else:
                        result.errors.append(str(err)[:300])
                        failures_in_a_row[0] += 1
                        if verdict.action is Action.DEFER and (verdict.delay or 0) > LONGEST_WAIT:
                            result.fatal = result.fatal or err  # HubSpot's daily limit: not waited out
                            stop.set()
                        elif failures_in_a_row[0] >= limit and verdict.transient:
                            result.fatal = result.fatal or RetryableError(
                                f"stopped after {failures_in_a_row[0]} failed deliveries in a row, none succeeding: {err}")
                            stop.set()
                exhausted = message.dequeue_count >= max_dequeue_count
                if stop.is_set() and not (exhausted and verdict.action is Action.STOP):
                    settle(message, lambda m=message: queue.release(m, 0))  # left for the next run
                    continue
                if exhausted:  # as the Functions host does: to the poison queue, then the poison store
                    poison_queue.send(message.body)
                    settle(message, lambda m=message: queue.delete(m))
                    with lock:
                        result.poisoned += 1
                else:
                    delay = verdict.delay or min(base_backoff * 2 ** (message.dequeue_count - 1), 60.0)
                    settle(message, lambda m=message, d=delay: queue.release(m, d))
                    with lock:
                        result.retried += 1
            finally:
                with lock:
                    busy[0] -= 1
                if on_message:
                    on_message()

    threads = [threading.Thread(target=loop, name=f"hubsync-worker-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the poison function's job, for local runs
    try:
        while True:
            parked = poison_queue.receive(32, visibility_timeout)
            if not parked:
                break
            for message in parked:
                handler.park(message.body, message.id, message.dequeue_count, queue=poison_queue.name)
                poison_queue.delete(message)
    except Exception as err:  # noqa: BLE001 - the messages stay on the poison queue
        result.fatal = result.fatal or RetryableError(f"parking failed batches failed: {type(err).__name__}: {err}")
    return result


class _Lease:
    """Keeps a message invisible while its batch runs, as the Functions host does, so a slow
    batch (HubSpot's rate-limit waits) is never handed to a second worker."""

    def __init__(self, queue: Queue, message: QueuedMessage, visibility_timeout: float) -> None:
        self._queue = queue
        self._message = message
        self._timeout = visibility_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{message.id[:8]}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(max(self._timeout / 2, 0.05)):
            try:
                self._queue.release(self._message, self._timeout)
            except LeaseLost:
                return
            except Exception as err:  # noqa: BLE001 - a failed renewal is retried on the next tick
                log.warning("could not extend the lease of message %s: %s", self._message.id, err)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

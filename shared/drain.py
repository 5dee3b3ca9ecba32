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

from shared.errors import ConfigurationError, RetryableError
from shared.queue_handler import MessageHandler
from shared.queues import Queue

log = logging.getLogger("hubsync.drain")


@dataclass
class DrainResult:
    done: int = 0
    parked: int = 0
    deferred: int = 0
    retried: int = 0
    poisoned: int = 0
    fatal: BaseException | None = None
    errors: list[str] = field(default_factory=list)


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
) -> DrainResult:
    result = DrainResult()
    lock = threading.Lock()
    busy = [0]
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            batch = queue.receive(1, visibility_timeout)
            if not batch:
                with lock:
                    idle = busy[0] == 0
                if idle and queue.approximate_count() == 0:
                    return
                sleep(0.05)
                continue
            message = batch[0]
            with lock:
                busy[0] += 1
            try:
                outcome = handler.handle(message.body, message.dequeue_count, message.id)
                queue.delete(message)
                with lock:
                    setattr(result, outcome, getattr(result, outcome) + 1)
            except ConfigurationError as err:
                # the operator must fix something: stop, leave the message for the next run
                queue.release(message, 0)
                with lock:
                    result.fatal = result.fatal or err
                stop.set()
            except Exception as err:  # noqa: BLE001 - every failure is retried or poisoned
                with lock:
                    result.errors.append(str(err)[:300])
                if message.dequeue_count >= max_dequeue_count:
                    poison_queue.send(message.body)
                    queue.delete(message)
                    with lock:
                        result.poisoned += 1
                else:
                    delay = err.retry_after if isinstance(err, RetryableError) and err.retry_after else (
                        min(base_backoff * 2 ** (message.dequeue_count - 1), 60.0))
                    queue.release(message, delay)
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
    while True:
        parked = poison_queue.receive(32, visibility_timeout)
        if not parked:
            break
        for message in parked:
            handler.park(message.body, message.id, message.dequeue_count, queue=poison_queue.name)
            poison_queue.delete(message)
    return result

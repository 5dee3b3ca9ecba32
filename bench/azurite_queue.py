"""StorageQueue send / receive / delete throughput against Azurite (the real Storage emulator),
with a realistic body: one batch message of 100 integer keys, as the planner writes it.

Azurite runs in memory on a free port (as tests/conftest.py starts it) and is stopped after.
The in-process MemoryQueue (what `hubsync run` uses without Azure) is measured the same way
for comparison, at 1,000 and 10,000 messages.

    .venv/bin/python -m bench.azurite_queue [--messages 1000] [--threads 4]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench._common import azurite, heading, md_table
from shared.keys import encode_version
from shared.queue.backends import MemoryQueue, Queue, StorageQueue
from shared.queue.messages import BatchMessage, KeyRef, encoded_size
from shared.sync.planner import new_run_id


def batch_body(first_key: int = 1_000_000, keys: int = 100) -> str:
    run_id = new_run_id()
    return BatchMessage(
        run_id=run_id, batch_id=f"{run_id}:contacts:1234", object="contacts",
        keys=[KeyRef(k=[i], v=encode_version("integer", 5_000_000 + i)) for i in range(first_key, first_key + keys)],
    ).to_json()


def in_threads(threads: int, total: int, work: Callable[[int], int]) -> float:
    """Run ``work(share)`` on ``threads`` threads (each returns how many it did); seconds taken."""
    shares = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    done: list[int] = []
    lock = threading.Lock()

    def run(share: int) -> None:
        n = work(share)
        with lock:
            done.append(n)

    workers = [threading.Thread(target=run, args=(s,)) for s in shares]
    start = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    seconds = time.perf_counter() - start
    assert sum(done) == total, (sum(done), total)
    return seconds


def send_all(queue: Queue, body: str, n: int, threads: int) -> float:
    def work(share: int) -> int:
        for _ in range(share):
            queue.send(body)
        return share
    return in_threads(threads, n, work)


def receive_delete(queue: Queue, n: int, threads: int, per_call: int) -> tuple[float, int]:
    """Receive ``per_call`` at a time and delete each, until ``n`` are gone; (seconds, receive calls)."""
    calls = [0]
    lock = threading.Lock()
    remaining = [n]

    def work(_share: int) -> int:
        done = 0
        while True:
            with lock:
                if remaining[0] <= 0:
                    return done
            batch = queue.receive(per_call, 30)
            with lock:
                calls[0] += 1
                remaining[0] -= len(batch)
            if not batch:
                continue
            for message in batch:
                queue.delete(message)
            done += len(batch)

    seconds = in_threads(threads, n, work)
    return seconds, calls[0]


def measure(label: str, make_queue: Callable[[], Any], body: str, n: int, threads_list: list[int]) -> list[list[Any]]:
    rows = []
    for threads in threads_list:
        queue = make_queue()
        t_send = send_all(queue, body, n, threads)
        rows.append(_row(label, "send", threads, n, n, t_send))
        t_recv, calls = receive_delete(queue, n, threads, 32)
        rows.append(_row(label, "receive 32 + delete each", threads, n, calls + n, t_recv))
        send_all(queue, body, n, threads)
        t_one, calls = receive_delete(queue, n, threads, 1)
        rows.append(_row(label, "receive 1 + delete (as drain does)", threads, n, calls + n, t_one))
        assert queue.approximate_count() == 0
    return rows


def _row(label: str, op: str, threads: int, n: int, calls: int, seconds: float) -> list[Any]:
    return [label, op, threads, n, calls, seconds, n / seconds, seconds * threads / calls * 1000]


def run(n: int, threads: int) -> None:
    body = batch_body()
    threads_list = sorted({1, threads})
    print(heading("Storage queue throughput (StorageQueue against Azurite, and MemoryQueue)",
                  {"messages": n, "threads": "/".join(map(str, threads_list)),
                   "body": f"{len(body.encode()):,} B JSON, {encoded_size(body):,} B base64 (100 keys)"}))
    rows: list[list[Any]] = []
    with azurite() as connection:
        def storage() -> StorageQueue:
            return StorageQueue.connect(f"bench-{uuid.uuid4().hex[:12]}", {"AzureWebJobsStorage": connection},
                                        create=True)
        storage().send(body)  # warm up the connection pool and Azurite's JIT
        rows += measure("Azurite", storage, body, n, threads_list)
    for count in (n, n * 10):
        rows += measure("MemoryQueue", lambda: MemoryQueue("bench"), body, count, [1])
    print(md_table(["queue", "operation", "threads", "messages", "calls", "seconds", "messages/s",
                    "ms per call"], rows))
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.azurite_queue", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    run(args.messages, args.threads)
    print(f"_benchmark wall time: {time.perf_counter() - start:.1f} s_\n")


if __name__ == "__main__":
    main()

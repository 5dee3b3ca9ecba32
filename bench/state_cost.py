"""hubsync's own cost with the state database across a network, as a Function sees Azure SQL.

A first sync of N rows (unthrottled emulator in its own process, PostgreSQL, 4 workers), run
twice in one process: straight to PostgreSQL, and through a local TCP proxy (a process of its
own) that holds every chunk the client sends for ``--delay-ms`` (2 ms: one extra round-trip time per statement, as
a Function in the same region sees Azure SQL). Reported: rows/s, the ratio of the two, and per
batch the state commits, statements and connection checkouts (SQLAlchemy events on the engine);
then a ``--full`` re-read of the same rows (nothing changed: no HubSpot call) against the first
sync's time.

    .venv/bin/python -m bench.state_cost [--rows 50000] [--delay-ms 2]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from bench._common import PG_URL, emulator_process, fill_customers, heading, machine_info, md_table, quiet_logging
from bench.end_to_end import build_runtime, timed_sync
from shared.source.engine import create_source_engine


@contextlib.contextmanager
def latency_proxy(target_port: int, delay: float) -> Iterator[int]:
    """A TCP proxy on loopback that delays what the client sends by ``delay`` seconds."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def pump(client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", target_port))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not stop.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        time.sleep(delay)  # one way is enough: a statement waits for its answer
                        server.sendall(data)
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def accept() -> None:
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=pump, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join()


def _serve_proxy(target_port: int, delay: float, conn: Any) -> None:
    with latency_proxy(target_port, delay) as port:
        conn.send(port)
        conn.recv()  # until told to stop


@contextlib.contextmanager
def proxy_process(target_port: int, delay: float) -> Iterator[int]:
    """``latency_proxy`` in a process of its own: its pumping must not take this process's CPU
    (the network between a Function and Azure SQL is not in the Function's process either)."""
    here, there = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_serve_proxy, args=(target_port, delay, there),
                                                         daemon=True)
    proc.start()
    try:
        yield here.recv()
    finally:
        here.send("stop")
        proc.join(5)
        if proc.is_alive():
            proc.kill()


class Counter:
    """Commits, statements and checkouts on an engine, apart for the workers (the threads that
    deliver batches) and the planner (every other thread)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.counts = {"worker": [0, 0, 0], "planner": [0, 0, 0]}
        sa.event.listen(engine, "commit", lambda *_: self._add(0))
        sa.event.listen(engine, "before_cursor_execute", lambda *_: self._add(1))
        sa.event.listen(engine.pool, "checkout", lambda *_: self._add(2))

    def _add(self, what: int) -> None:
        side = "worker" if threading.current_thread().name.startswith("hubsync-worker") else "planner"
        self.counts[side][what] += 1

    def snapshot(self) -> dict[str, tuple[int, ...]]:
        return {side: tuple(v) for side, v in self.counts.items()}


def one(url: str, rows: int, hubspot: str, schema: str) -> dict[str, Any]:
    engine = create_source_engine(url)
    counter = Counter(engine)
    state = f"{schema}_state"
    rt = build_runtime(engine, hubspot, table=f"{schema}.customers", state_schema=state)
    rt.writer.fetch_schema("contacts")
    before = counter.snapshot()
    first = timed_sync(rt, 4)
    after = counter.snapshot()
    batches = max(1, first["api_calls"])
    full = timed_sync(rt, 4, full=True)
    engine.dispose()
    with sa.create_engine(PG_URL).begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{state}" CASCADE'))
    return {"first": first, "full": full,
            "per_batch": {side: [(a - b) / batches for a, b in zip(after[side], before[side], strict=True)]
                          for side in after}}


def run(rows: int, delay_ms: float) -> None:
    quiet_logging()
    print(heading("State database across a network: first sync and full re-read",
                  {"rows": rows, "delay": f"{delay_ms:g} ms per client send", **machine_info()}))
    source = sa.create_engine(PG_URL)
    schema = f"bench_{int(time.time())}"
    with source.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        fill_customers(source, rows, schema)
        port = sa.engine.make_url(PG_URL).port or 5432
        table = []
        results = {}
        with emulator_process() as hubspot:
            for label, delay in (("direct (loopback)", 0.0), (f"+{delay_ms:g} ms per round trip", delay_ms / 1000)):
                if delay:
                    with proxy_process(port, delay) as proxy_port:
                        url = str(sa.engine.make_url(PG_URL).set(port=proxy_port).render_as_string(hide_password=False))
                        r = one(url, rows, hubspot, schema)
                else:
                    r = one(PG_URL, rows, hubspot, schema)
                results[label] = r
                f, full = r["first"], r["full"]
                w_commits, w_statements, w_checkouts = r["per_batch"]["worker"]
                p_commits, p_statements, _ = r["per_batch"]["planner"]
                table.append([label, f["rows"], f["api_calls"], round(f["seconds"], 1), round(f["rows"] / f["seconds"]),
                              round(w_commits, 2), round(w_statements, 1), round(w_checkouts, 1),
                              round(p_commits, 2), round(p_statements, 1),
                              round(full["seconds"], 1), full["api_calls"], round(full["seconds"] / f["seconds"], 2)])
        direct, slow = list(results.values())
        ratio = (slow["first"]["rows"] / slow["first"]["seconds"]) / (direct["first"]["rows"] / direct["first"]["seconds"])
        print(md_table(["state database", "rows", "HubSpot calls", "first sync s", "rows/s", "worker commits/batch",
                        "worker statements/batch", "worker checkouts/batch", "planner commits/batch",
                        "planner statements/batch", "full re-read s", "its calls", "full ÷ first"], table))
        print(f"\nwith the delay: {ratio:.2f} of the direct throughput. Per batch = over the first sync, divided by "
              "its HubSpot calls (one per 100-row batch). Worker: the threads delivering batches (SQL reads of "
              "the rows included); planner: the delta read, the batches recorded, the run opened and closed.")
    finally:
        with source.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        source.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.state_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--delay-ms", type=float, default=2.0)
    args = parser.parse_args(argv)
    run(args.rows, args.delay_ms)


if __name__ == "__main__":
    main()

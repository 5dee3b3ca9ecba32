"""Planner delta reading: WatermarkDelta.iter_delta throughput and memory, and the whole planner.

For SQLite and PostgreSQL, on a customers table of N rows (``tests.support.customer`` rows):

- ``iter_delta`` over every row with page sizes 1000 and 5000: rows/s;
- peak Python allocations (tracemalloc) while iterating a 50k-row delta and a 200k-row delta
  (the last rows of the table vs all of it): flat when the reader streams;
- the whole planner (``Planner`` with a ``MemoryQueue``, ``save_positions=True``): rows/s,
  messages produced and the largest message's encoded (base64) size, and (first backend only)
  its peak allocations for the two delta sizes: the in-process queue holds every message.

    .venv/bin/python -m bench.delta_read [--rows 200000] [--small 50000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import TOKEN, Stopwatch, fill_customers, heading, md_table, pg_schemas, quiet_logging, sqlite_engine
from shared.config import ObjectConfig, SyncConfig, parse_config
from shared.keys import Position, encode_version
from shared.queue.backends import MemoryQueue
from shared.queue.messages import encoded_size
from shared.settings import Settings
from shared.source.sql_reader import WatermarkDelta
from shared.source.table import SourceTable
from shared.state import StateStore
from shared.sync.planner import Planner
from tests.support import config_dict

PAGE_SIZES = (1000, 5000)


@contextlib.contextmanager
def source(backend: str, rows: int) -> Iterator[tuple[sa.Engine, str, str | None, float]]:
    """(engine, table name, state schema, seconds to load) for a filled customers table."""
    if backend == "sqlite":
        with sqlite_engine() as engine:
            with Stopwatch() as load:
                fill_customers(engine, rows)
            yield engine, "customers", None, load.seconds
    else:
        with pg_schemas() as (engine, schema, state_schema):
            with Stopwatch() as load:
                fill_customers(engine, rows, schema)
                with engine.begin() as conn:
                    conn.execute(sa.text(f'ANALYZE "{schema}".customers'))
            yield engine, f"{schema}.customers", state_schema, load.seconds


def make_config(table: str, state_schema: str | None, page_size: int) -> SyncConfig:
    return parse_config(config_dict(table=table, source={"state_schema": state_schema, "page_size": page_size}))


def consume(src: WatermarkDelta, after: Position | None, page_size: int) -> tuple[int, int]:
    rows = pages = 0
    for page in src.iter_delta(after, page_size):
        rows += len(page)
        pages += 1
    return rows, pages


def traced_peak(src: WatermarkDelta, after: Position | None, page_size: int) -> tuple[int, float]:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        rows, _ = consume(src, after, page_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return rows, (peak - base) / 2**20


def query_plan(engine: sa.Engine, src: WatermarkDelta, page_size: int) -> str:
    """The database's plan for a keyset page after the first (the statement every later page runs)."""
    stmt = src.delta_statement(Position(encode_version("integer", 1000), (1000,)), page_size)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "; ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        lines = [r[0].strip().removeprefix("->  ") for r in conn.exec_driver_sql("EXPLAIN " + sql)]
        return "; ".join(line.split("  (cost")[0] for line in lines if "Index" in line or "Scan" in line or "Sort" in line)


def plan_once(engine: sa.Engine, config: SyncConfig, obj: ObjectConfig, after: Position | None = None,
              trace: bool = False) -> dict[str, Any]:
    state = StateStore(engine, config.source.state_schema, config.source.table_prefix)
    state.init_db()
    state.reset_position(obj.name)
    if after is not None:
        state.set_position(obj.name, after)
    queue = MemoryQueue(Settings(hubspot_token=SecretStr(TOKEN)).queue_name)
    planner = Planner(config, state, queue, lambda o: WatermarkDelta(SourceTable(engine, o)), save_positions=True)
    peak = 0.0
    if trace:
        gc.collect()
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0] if trace else 0
        with Stopwatch() as sw:
            result = planner.plan("bench")
        if trace:
            peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        if trace:
            tracemalloc.stop()
    bodies = queue.peek_all()
    largest = max((encoded_size(b) for b in bodies), default=0)
    return {"rows": result.rows, "messages": len(bodies), "batches": result.batches, "seconds": sw.seconds,
            "largest": largest, "peak": peak, "queued_bytes": sum(len(b) for b in bodies)}


def run(backends: list[str], rows_n: int, small: int) -> None:
    quiet_logging()
    print(heading("Delta reading (WatermarkDelta.iter_delta) and the planner",
                  {"rows": rows_n, "small delta": small, "page sizes": "/".join(map(str, PAGE_SIZES))}))
    speed, memory, planner_rows, planner_memory, plans, loads = [], [], [], [], [], []
    for backend in backends:
        with source(backend, rows_n) as (engine, table, state_schema, load_seconds):
            loads.append([backend, rows_n, load_seconds])
            for page_size in PAGE_SIZES:
                config = make_config(table, state_schema, page_size)
                obj = config.objects[0]
                src = WatermarkDelta(SourceTable(engine, obj))
                consume(src, None, page_size)  # warm the database cache and the statement cache
                with Stopwatch() as sw:
                    got, pages = consume(src, None, page_size)
                assert got == rows_n, (got, rows_n)
                speed.append([backend, page_size, got, pages, sw.seconds, got / sw.seconds])

                small_after = Position(encode_version("integer", rows_n - small), None)
                for label, after in ((f"last {small:,} rows", small_after), (f"all {rows_n:,} rows", None)):
                    got, peak = traced_peak(src, after, page_size)
                    memory.append([backend, page_size, label, got, peak])
                if page_size == PAGE_SIZES[0]:
                    plans.append([backend, query_plan(engine, src, page_size)])

            for page_size in PAGE_SIZES:
                config = make_config(table, state_schema, page_size)
                result = plan_once(engine, config, config.objects[0])
                assert result["rows"] == rows_n
                planner_rows.append([backend, page_size, result["rows"], result["messages"], result["seconds"],
                                     result["rows"] / result["seconds"], result["largest"]])

            if backend == backends[0]:
                # the in-process queue keeps every message of the run until the drain starts
                config = make_config(table, state_schema, PAGE_SIZES[0])
                small_after = Position(encode_version("integer", rows_n - small), None)
                for label, after in ((f"last {small:,} rows", small_after), (f"all {rows_n:,} rows", None)):
                    result = plan_once(engine, config, config.objects[0], after, trace=True)
                    planner_memory.append([backend, PAGE_SIZES[0], label, result["rows"], result["messages"],
                                           result["queued_bytes"] / 2**20, result["peak"]])

    print("iter_delta, whole table, keys and watermark only (what the planner reads):\n")
    print(md_table(["backend", "page size", "rows", "pages", "seconds", "rows/s"], speed))
    print("\nPeak Python allocations while iterating (tracemalloc; the driver's C buffers are not counted):\n")
    print(md_table(["backend", "page size", "delta", "rows", "peak MiB"], memory))
    print("\nPlanner (Planner.plan, MemoryQueue, save_positions=True; state in the same database):\n")
    print(md_table(["backend", "page size", "rows", "messages", "seconds", "rows/s", "largest message (encoded bytes)"],
                   planner_rows))
    print("\nPeak Python allocations of the planner with a MemoryQueue (what `hubsync run` does before draining):\n")
    print(md_table(["backend", "page size", "delta", "rows", "messages queued", "queued bodies MiB", "peak MiB"],
                   planner_memory))
    print("\nQuery plan of a keyset page (after the first):\n")
    print(md_table(["backend", "plan"], plans))
    print("\nLoading the test table (setup, not hubsync):\n")
    print(md_table(["backend", "rows", "seconds"], loads))
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delta_read", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=50_000, help="rows of the small delta (memory comparison)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    if not 0 < args.small <= args.rows:
        parser.error("--small must be between 1 and --rows")
    start = time.perf_counter()
    run([b.strip() for b in args.backends.split(",") if b.strip()], args.rows, args.small)
    print(f"_benchmark wall time: {time.perf_counter() - start:.1f} s_\n")


if __name__ == "__main__":
    main()

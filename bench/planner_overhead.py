"""What planning costs on top of reading: the planner against a bare read of the same rows.

On SQLite and PostgreSQL, for one table of N changed rows (all new), in one run:

- **bare read**: ``SELECT key, watermark FROM t ORDER BY watermark, key``, every row fetched;
- **plan**: ``Planner.plan`` as ``hubsync run`` starts it (keyset pages, claims, batch records,
  positions saved per page, messages on the in-process queue), on fresh state;
- the ratio of the two (target: at most 5x);
- and, reported separately, the same plan enqueuing into Azure Storage queues on Azurite.

    .venv/bin/python -m bench.planner_overhead [--rows 100000] [--backends sqlite,postgresql] [--azurite-rows 10000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import (
    TOKEN,
    azurite,
    fill_customers,
    heading,
    machine_info,
    md_table,
    pg_schemas,
    quiet_logging,
    sqlite_engine,
)
from shared.config import parse_config
from shared.queue.backends import MemoryQueue, StorageQueue
from shared.runtime import Runtime
from shared.settings import Settings
from tests.support import config_dict


def runtime(engine: sa.Engine, table: str, state: str | None, queue: Any = None, poison: Any = None) -> Runtime:
    config = parse_config(config_dict(table=table, state_schema=state,
                                      source={"state_schema": state, "page_size": 1000}))
    settings = Settings(hubspot_token=SecretStr(TOKEN), queue_name=f"plan-{random.randrange(10**8)}")
    queues = {"queue": queue or MemoryQueue(settings.queue_name),
              "poison_queue": poison or MemoryQueue(settings.poison_queue_name)}
    rt = Runtime.build(settings, config, engine=engine, hubspot_base_url="http://127.0.0.1:9", **queues)
    rt.state.init_db()
    return rt


def bare_read(engine: sa.Engine, table: str) -> float:
    schema, _, name = table.rpartition(".")
    quoted = f'"{schema}"."{name}"' if schema else f'"{name}"'
    start = time.perf_counter()
    with engine.connect() as conn:
        n = sum(1 for _ in conn.execution_options(stream_results=True).execute(
            sa.text(f"SELECT customer_id, row_version FROM {quoted} ORDER BY row_version, customer_id")))
    seconds = time.perf_counter() - start
    assert n > 0
    return seconds


def timed_plan(rt: Runtime) -> tuple[float, int]:
    start = time.perf_counter()
    result = rt.planner(save_positions=True).plan("timer")
    return time.perf_counter() - start, result.batches


def measure(backend: str, rows: int, storage: str | None) -> list[list[Any]]:
    out = []

    def one(engine: sa.Engine, table: str, state: str | None, label: str, queue: Any = None, poison: Any = None):
        read = bare_read(engine, table)
        plan_s, batches = timed_plan(runtime(engine, table, state, queue, poison))
        out.append([backend, label, rows, batches, round(read, 3), round(plan_s, 2), round(plan_s / read, 1),
                    round(rows / plan_s)])

    if backend == "sqlite":
        with sqlite_engine() as engine:
            fill_customers(engine, rows)
            one(engine, "customers", None, "in-process queue")
        if storage:
            with sqlite_engine() as engine:
                fill_customers(engine, rows // 10)
                name = f"plan-{random.randrange(10**8)}"
                queues = [StorageQueue.connect(n, {"AzureWebJobsStorage": storage}, create=True)
                          for n in (name, name + "-poison")]
                read = bare_read(engine, "customers")
                rt = runtime(engine, "customers", None, *queues)
                plan_s, batches = timed_plan(rt)
                out.append([backend, "Azurite queue", rows // 10, batches, round(read, 3), round(plan_s, 2),
                            round(plan_s / read, 1), round(rows // 10 / plan_s)])
    else:
        with pg_schemas() as (engine, schema, state):
            fill_customers(engine, rows, schema)
            with engine.begin() as conn:
                conn.execute(sa.text(f'ANALYZE "{schema}".customers'))
            one(engine, f"{schema}.customers", state, "in-process queue")
    return out


def run(rows: int, backends: list[str], with_azurite: bool) -> None:
    quiet_logging()
    print(heading("Planning against a bare read of the same rows", {"rows": rows, **machine_info()}))
    table = []
    if with_azurite:
        with azurite() as storage:
            for backend in backends:
                table += measure(backend, rows, storage if backend == "sqlite" else None)
    else:
        for backend in backends:
            table += measure(backend, rows, None)
    print(md_table(["database", "queue", "rows", "messages", "bare read s", "plan s", "plan ÷ read", "rows/s planned"],
                   table))
    print("\nplan = read pages, claim the rows, record each batch, save the position per page, enqueue; the bare "
          "read fetches the same rows' key and watermark in one query. The Azurite row uses a tenth of the rows.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.planner_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-azurite", action="store_true")
    args = parser.parse_args(argv)
    run(args.rows, [b.strip() for b in args.backends.split(",") if b.strip()], not args.no_azurite)


if __name__ == "__main__":
    main()

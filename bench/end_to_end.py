"""Full ``run_sync``: SQLite -> MemoryQueue -> HubSpot emulator, with 1, 2 and 4 worker threads
(and PostgreSQL with 1 and 4, where hubsync's state is written concurrently).

For each worker count, on a fresh database and a fresh emulator:

1. first run over N rows (every valid row is created in HubSpot);
2. 1 % of the valid rows change (new last name, new row version): second run;
3. nothing changed: third run (reads nothing, writes nothing);
4. nothing changed, ``full=True``: every row is re-read, mapped and hashed, none is sent.

The emulator is local (loopback, in its own process by default), so this measures hubsync's
own overhead, not HubSpot's latency. A last run applies HubSpot's burst limit (100 requests
per 10 s, set in hubsync's RateBudget and enforced by the emulator) to show what it costs.

    .venv/bin/python -m bench.end_to_end [--rows 10000] [--workers 1,2,4] [--pg-workers 1,4] [--budget-rows 20000]
                                         [--emulator process|inproc]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench._common import (
    TOKEN,
    emulator_process,
    fill_customers,
    heading,
    md_table,
    pg_schemas,
    quiet_logging,
    sqlite_engine,
)
from shared.config import parse_config
from shared.runtime import Runtime
from shared.settings import Settings
from shared.sync.run import run_sync
from tests.support import BAD_EMAIL, BAD_STATUS, BAD_TIER, config_dict, update_customers

HUBSPOT_BURST = 100      # requests per rolling 10 s (the limit this benchmark assumes)
RECORDS_PER_CALL = 100   # inputs per batch call


@contextlib.contextmanager
def emulator(kind: str) -> Iterator[tuple[str, Any]]:
    if kind == "process":
        with emulator_process() as url:
            yield url, None
    else:
        from hubspot_emulator import Emulator

        with Emulator(token=TOKEN) as emu:
            yield emu.base_url, emu


def build_runtime(engine: Any, url: str, requests_per_10s: int = 1000, table: str = "customers",
                  state_schema: str | None = None, queue: dict[str, Any] | None = None) -> Runtime:
    config = parse_config(config_dict(
        table=table, source={"state_schema": state_schema, "page_size": 1000},
        hubspot={"mode": "live", "requests_per_10s": requests_per_10s, "max_attempts": 4},
        queue={"backend": "memory", **(queue or {})},  # production defaults: visibility 30 s, 5 deliveries
    ))
    settings = Settings(hubspot_token=SecretStr(TOKEN), queue_name=f"bench-{random.randrange(10**8)}")
    rt = Runtime.build(settings, config, engine=engine, hubspot_base_url=url)
    rt.state.init_db()
    return rt


def timed_sync(rt: Runtime, workers: int, full: bool = False) -> dict[str, Any]:
    calls_before = rt.writer.api_calls
    planned_at: list[float] = []
    start = time.perf_counter()
    result = run_sync(rt, workers=workers, full=full, on_planned=lambda _p: planned_at.append(time.perf_counter()))
    end = time.perf_counter()
    run = result.run
    assert run["status"] == "finished" and not run["failed"], run
    return {
        "seconds": end - start, "plan_s": planned_at[0] - start, "drain_s": end - planned_at[0],
        "rows": run["rows_read"], "created": run["created"], "updated": run["updated"],
        "unchanged": run["unchanged"], "rejected": run["rejected"],
        "api_calls": rt.writer.api_calls - calls_before,
    }


def valid_ids(n: int) -> list[int]:
    return [i for i in range(1, n + 1) if i % 100 not in (BAD_EMAIL, BAD_STATUS, BAD_TIER)]


@contextlib.contextmanager
def database(backend: str, rows_n: int) -> Iterator[tuple[Any, Any, str, str | None]]:
    """(engine, table, table name, state schema) with ``rows_n`` customers."""
    if backend == "sqlite":
        with sqlite_engine() as engine:
            yield engine, fill_customers(engine, rows_n), "customers", None
    else:
        with pg_schemas() as (engine, schema, state_schema):
            yield engine, fill_customers(engine, rows_n, schema), f"{schema}.customers", state_schema


def run_workers(backend: str, rows_n: int, workers: int, kind: str) -> list[list[Any]]:
    out = []
    with database(backend, rows_n) as (engine, table, table_name, state_schema), emulator(kind) as (url, _emu):
        rt = build_runtime(engine, url, table=table_name, state_schema=state_schema)
        rt.writer.fetch_schema("contacts")  # the HTTP client is built, as in a warm process

        first = timed_sync(rt, workers)
        changed = random.Random(5).sample(valid_ids(rows_n), max(1, rows_n // 100))
        update_customers(engine, table, changed, last_name=lambda cid: f"Changed{cid}")
        second = timed_sync(rt, workers)
        assert second["updated"] == len(changed), second
        third = timed_sync(rt, workers)
        full = timed_sync(rt, workers, full=True)
        for label, r in (("first run (all rows new)", first), ("1 % changed", second),
                         ("nothing changed", third), ("nothing changed, full re-read", full)):
            out.append([backend, workers, label, r["rows"], r["created"] + r["updated"], r["unchanged"],
                        r["rejected"], r["api_calls"], r["plan_s"], r["drain_s"], r["seconds"],
                        r["rows"] / r["seconds"] if r["rows"] else 0.0])
    return out


def run_budget(rows_n: int, workers: int, queue: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sync under HubSpot's burst limit, with the emulator (own process) enforcing it too."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "emulator.log"
        with sqlite_engine() as engine, emulator_process("--rate-limit-per-10s", str(HUBSPOT_BURST), log=log) as url:
            fill_customers(engine, rows_n)
            rt = build_runtime(engine, url, requests_per_10s=HUBSPOT_BURST, queue=queue)
            r = timed_sync(rt, workers)
            r["waited"] = rt.writer.budget.waited
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        r["status_429"] = sum(1 for line in lines if re.search(r'" 429 ', line))
        r["requests_logged"] = sum(1 for line in lines if "/crm/" in line)
        return r


def run(rows_n: int, workers_list: list[int], pg_workers: list[int], budget_rows: int, kind: str) -> None:
    quiet_logging()
    print(heading("End to end: run_sync, SQL -> MemoryQueue -> HubSpot emulator",
                  {"rows": rows_n, "SQLite workers": "/".join(map(str, workers_list)),
                   "PostgreSQL workers": "/".join(map(str, pg_workers)) or "-", "page size": 1000,
                   "emulator": "separate process" if kind == "process" else "in this process"}))
    table = []
    for workers in workers_list:
        table += run_workers("sqlite", rows_n, workers, kind)
    for workers in pg_workers:
        table += run_workers("postgresql", rows_n, workers, kind)
    print(md_table(["source + state", "workers", "run", "rows read", "written", "unchanged", "rejected", "API calls",
                    "plan s", "drain s", "total s", "rows/s"], table))
    print()
    best = max((r[-1] for r in table if r[2].startswith("first")), default=0.0)
    limit = HUBSPOT_BURST / 10 * RECORDS_PER_CALL
    print(f"HubSpot's burst limit of {HUBSPOT_BURST} requests per 10 s, with {RECORDS_PER_CALL} records per batch "
          f"call, allows at most {limit:,.0f} records/s per app. hubsync's best first-run throughput here was "
          f"{best:,.0f} rows/s ({best / limit:.2f}x that limit), against a local emulator.\n")

    if budget_rows:
        budget_workers = max(workers_list or pg_workers or [4])
        r = run_budget(budget_rows, budget_workers)
        print(f"Under that limit (requests_per_10s={HUBSPOT_BURST}, emulator enforcing {HUBSPOT_BURST}/10 s), "
              f"{budget_workers} workers:\n")
        print(md_table(
            ["rows", "written", "API calls", "requests served (emulator log)", "429 answers",
             "thread-seconds waited in RateBudget", "total s", "rows/s"],
            [[r["rows"], r["created"] + r["updated"], r["api_calls"], r["requests_logged"], r["status_429"], r["waited"],
              r["seconds"],
              r["rows"] / r["seconds"]]],
        ))
        print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.end_to_end", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts with SQLite")
    parser.add_argument("--pg-workers", default="1,4", help="worker counts with PostgreSQL ('' to skip)")
    parser.add_argument("--budget-rows", type=int, default=20_000,
                        help="rows of the run under HubSpot's 100/10 s limit (0 to skip)")
    parser.add_argument("--emulator", choices=("process", "inproc"), default="process")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    run(args.rows, [int(w) for w in args.workers.split(",") if w], [int(w) for w in args.pg_workers.split(",") if w],
        args.budget_rows, args.emulator)
    print(f"_benchmark wall time: {time.perf_counter() - start:.1f} s_\n")


if __name__ == "__main__":
    main()

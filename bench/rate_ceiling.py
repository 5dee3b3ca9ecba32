"""At HubSpot's ceiling: how close each way of syncing gets to the rate limit, side by side.

One run, one emulator limit for every scenario (default 20 requests per 2 s, HubSpot's 100 per
10 s on a shorter window, so a 100-record batch call gives a ceiling of 1,000 records/s), each
scenario against a fresh emulator process that enforces the limit:

(a) hubsync, one process, 8 worker threads (``hubsync run --workers 8``), the in-process queue and budget;
(b) hubsync, 4 worker processes x 2 threads draining Azure Storage queues (Azurite), sharing one
    rate window through Azurite's blob service, as Function instances do;
(c) a baseline: the official SDK, batches of 100 upserts from 4 threads, with the retry the
    SDK's README documents (``urllib3.Retry(total=3, backoff_factor=0.3, status_forcelist=(429,))``);
(d) a baseline: one create request per record, same retry, on a slice of the rows (scaled).

Reported: records/s ÷ ceiling, 429 answers ÷ calls, calls per record, rows lost, duplicates,
and the most requests the emulator let through in any one window (never above the limit, since
the emulator enforces it: the 429 column is what going over costs). Source and state are on
PostgreSQL (4 processes share them).

    .venv/bin/python -m bench.rate_ceiling [--rows 50000] [--slice 2000] [--limit 20] [--window 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import (
    PG_URL,
    ROOT,
    TOKEN,
    azurite,
    emulator_process,
    fill_customers,
    heading,
    machine_info,
    md_table,
    pg_schemas,
    quiet_logging,
)
from shared.config import parse_config
from shared.runtime import Runtime
from shared.settings import Settings
from tests.support import BAD_EMAIL, BAD_STATUS, BAD_TIER, config_dict

RECORDS_PER_CALL = 100


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=30) as answer:  # noqa: S310 - loopback
        return json.loads(answer.read())


@contextlib.contextmanager
def limited_emulator(limit: int, window: float) -> Iterator[str]:
    with emulator_process("--rate-limit-per-10s", str(limit), "--window-seconds", str(window)) as url:
        yield url


def clean_table(engine: sa.Engine, schema: str, rows: int) -> int:
    """``rows`` customers without the rows the test data makes invalid on purpose."""
    fill_customers(engine, rows, schema)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DELETE FROM "{schema}".customers WHERE customer_id % 100 IN '
                             f"({BAD_EMAIL}, {BAD_STATUS}, {BAD_TIER})"))
        return conn.execute(sa.text(f'SELECT count(*) FROM "{schema}".customers')).scalar_one()


def hubsync_config(schema: str, state: str, per_10s: int, backend: str) -> dict[str, Any]:
    return config_dict(table=f"{schema}.customers", backend=backend, state_schema=state,
                       source={"state_schema": state, "page_size": 1000},
                       hubspot={"mode": "live", "requests_per_10s": per_10s, "max_attempts": 4},
                       queue={"backend": backend, "max_dequeue_count": 5, "visibility_timeout_seconds": 30})


def settings_for(queue_name: str, storage: str | None = None) -> Settings:
    return Settings(hubspot_token=SecretStr(TOKEN), queue_name=queue_name,
                    storage_connection=SecretStr(storage) if storage else None)


def one_process(url: str, engine: sa.Engine, schema: str, state: str, per_10s: int) -> dict[str, Any]:
    from shared.sync.run import run_sync

    rt = Runtime.build(settings_for(f"bench-{random.randrange(10**8)}"),
                       parse_config(hubsync_config(schema, state, per_10s, "memory")), engine=engine,
                       hubspot_base_url=url)
    rt.state.init_db()
    planned: list[float] = []
    start = time.perf_counter()
    result = run_sync(rt, workers=8, on_planned=lambda _p: planned.append(time.perf_counter()))
    end = time.perf_counter()
    return {"seconds": end - start, "send_seconds": end - planned[0], "deferred": result.drain.deferred,
            "throttled": rt.writer.budget.stats.throttled, "late": rt.writer.budget.stats.late}


WORKER = """
import json, sys
from bench.rate_ceiling import worker_process
print(json.dumps(worker_process(*json.loads(sys.argv[1]))))
"""


def worker_process(url: str, storage: str, queue_name: str, schema: str, state: str, per_10s: int) -> dict[str, Any]:
    """One Function instance: drains the Storage queue with two threads, pacing with the shared window."""
    from shared.queue.drain import drain
    from shared.source.engine import create_source_engine

    quiet_logging()
    engine = create_source_engine(PG_URL)
    config = parse_config(hubsync_config(schema, state, per_10s, "azure"))
    rt = Runtime.build(settings_for(queue_name, storage), config, engine=engine, hubspot_base_url=url)
    result = drain(rt.queue, rt.poison_queue, rt.handler(), workers=2, max_dequeue_count=5, visibility_timeout=30)
    store = rt.writer.budget.store
    return {"done": result.done, "deferred": result.deferred, "retried": result.retried,
            "poisoned": result.poisoned, "throttled": rt.writer.budget.stats.throttled,
            "late": rt.writer.budget.stats.late,
            "blob_round_trips": getattr(store, "round_trips", 0), "blob_conflicts": getattr(store, "conflicts", 0),
            "fatal": str(result.fatal) if result.fatal else None}


def four_processes(url: str, storage: str, engine: sa.Engine, schema: str, state: str,
                   per_10s: int) -> dict[str, Any]:
    queue_name = f"bench-{random.randrange(10**8)}"
    rt = Runtime.build(settings_for(queue_name, storage), parse_config(hubsync_config(schema, state, per_10s, "azure")),
                       engine=engine, hubspot_base_url=url)
    rt.state.init_db()
    plan_start = time.perf_counter()
    rt.planner().plan("timer")  # the timer function: every batch enqueued before the workers start
    start = time.perf_counter()
    args = json.dumps([url, storage, queue_name, schema, state, per_10s])
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, args], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=3600) for p in procs]
    end = time.perf_counter()
    reports = []
    for p, (out, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"worker failed: {err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    fatal = [r["fatal"] for r in reports if r["fatal"]]
    if fatal:
        raise RuntimeError(f"a worker stopped: {fatal[0]}")
    return {"seconds": end - plan_start, "send_seconds": end - start,
            "deferred": sum(r["deferred"] for r in reports), "throttled": sum(r["throttled"] for r in reports),
            "late": sum(r["late"] for r in reports),
            "blob_round_trips": sum(r["blob_round_trips"] for r in reports),
            "blob_conflicts": sum(r["blob_conflicts"] for r in reports)}


def sdk_client(url: str) -> Any:
    from hubspot import HubSpot
    from urllib3.util.retry import Retry

    # the SDK README's retry, as documented (urllib3's default allowed_methods leave POST out)
    return HubSpot(access_token=TOKEN, host=url, retry=Retry(total=3, backoff_factor=0.3, status_forcelist=(429,)))


def source_rows(engine: sa.Engine, schema: str, limit: int | None = None) -> list[dict[str, str]]:
    query = f'SELECT email, first_name, last_name FROM "{schema}".customers ORDER BY customer_id'
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query + (f" LIMIT {int(limit)}" if limit else ""))).all()
    return [{"email": e.lower(), "firstname": f, "lastname": last} for e, f, last in rows]


def sdk_batches(url: str, engine: sa.Engine, schema: str) -> dict[str, Any]:
    from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputUpsert, SimplePublicObjectBatchInputUpsert

    rows = source_rows(engine, schema)
    batches = [rows[i:i + RECORDS_PER_CALL] for i in range(0, len(rows), RECORDS_PER_CALL)]

    def send(batch: list[dict[str, str]]) -> int:
        api = sdk_client(url).crm.contacts.batch_api
        body = BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(id=r["email"], id_property="email", properties=r) for r in batch])
        try:
            api.upsert(body)
            return 0
        except Exception:  # noqa: BLE001 - what a script written from the README loses
            return len(batch)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        lost = sum(pool.map(send, batches))
    end = time.perf_counter()
    return {"seconds": end - start, "send_seconds": end - start, "script_lost": lost}


def sdk_per_record(url: str, engine: sa.Engine, schema: str, n: int) -> dict[str, Any]:
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate

    rows = source_rows(engine, schema, n)

    def send(row: dict[str, str]) -> int:
        try:
            sdk_client(url).crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=row))
            return 0
        except Exception:  # noqa: BLE001
            return 1

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        lost = sum(pool.map(send, rows))
    end = time.perf_counter()
    return {"seconds": end - start, "send_seconds": end - start, "script_lost": lost}


def run(rows_n: int, slice_n: int, limit: int, window: float, only: set[str] | None = None) -> None:
    quiet_logging()
    per_10s = round(limit * 10 / window)
    ceiling = limit / window * RECORDS_PER_CALL  # records per second
    print(heading("At HubSpot's ceiling: hubsync and two baselines on one emulator limit",
                  {"rows": rows_n, "limit": f"{limit} requests per {window:g} s", "ceiling": f"{ceiling:,.0f} records/s",
                   "per-record slice": slice_n, **machine_info()}))
    table, notes = [], []
    with azurite() as storage:
        scenarios = [
            ("(a) hubsync, 1 process x 8 threads", "one"),
            ("(b) hubsync, 4 processes x 2 threads, shared window (Azurite)", "four"),
            ("(c) SDK batches of 100, README retry, 4 threads", "batches"),
            ("(d) SDK one request per record, README retry, 4 threads", "per-record"),
        ]
        for label, kind in scenarios:
            if only and kind not in only:
                continue
            with pg_schemas() as (engine, schema, state), limited_emulator(limit, window) as url:
                expected = clean_table(engine, schema, rows_n)
                if kind == "one":
                    r = one_process(url, engine, schema, state, per_10s)
                elif kind == "four":
                    r = four_processes(url, storage, engine, schema, state, per_10s)
                elif kind == "batches":
                    r = sdk_batches(url, engine, schema)
                else:
                    expected = min(expected, slice_n)
                    r = sdk_per_record(url, engine, schema, expected)
                s = stats(url)
            calls = sum(s["calls_by_status"].values())
            throttled = s["calls_by_status"].get("429", 0)
            crm_records = s["records"]
            # from the first request HubSpot let through to the last, plus one slot: process start-up and
            # planning are in "total s", not here
            span = s["accepted_span_seconds"] + window / limit
            rate = crm_records / span
            table.append([label, expected, round(r["seconds"], 1), round(span, 1), round(rate),
                          round(rate / ceiling, 3), calls, throttled, round(throttled / calls, 4) if calls else 0.0,
                          round(calls / max(crm_records, 1), 4), expected - crm_records + s["duplicate_emails"],
                          s["duplicate_emails"], s["most_in_any_window"]])
            if kind == "four":
                notes.append(f"(b): {r['blob_round_trips']:,} blob round trips for the shared window "
                             f"({r['blob_conflicts']:,} lost ETag races, retried), {r['deferred']} batches deferred, "
                             f"{r['throttled']} 429s seen by the workers, {r['late']} slots missed by a late wake-up")
            if kind == "one":
                notes.append(f"(a): {r['deferred']} batches deferred, {r['late']} slots missed by a late wake-up, "
                             f"planning {r['seconds'] - r['send_seconds']:.1f} s of the total")
    print(md_table(["scenario", "rows", "total s", "sending s", "records/s (sending)", "÷ ceiling", "calls",
                    "429s", "429 ÷ calls", "calls/record", "rows lost", "duplicates",
                    f"most in any {window:g} s window (limit {limit})"], table))
    print()
    for note in notes:
        print(f"- {note}")
    print("- sending s: from the first request the emulator let through to the last, plus one slot "
          "(window ÷ limit); total s adds planning and, in (b), the workers' start-up. records/s = records in the "
          "emulator at the end ÷ sending s. rows lost = rows not in the emulator.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_ceiling", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=51_600, help="rows generated (3%% are dropped as invalid)")
    parser.add_argument("--slice", type=int, default=2_000, help="rows for the one-request-per-record baseline")
    parser.add_argument("--limit", type=int, default=20, help="requests per window the emulator allows")
    parser.add_argument("--window", type=float, default=2.0, help="seconds of the emulator's rolling window")
    parser.add_argument("--only", default="", help="comma-separated scenarios: one, four, batches, per-record")
    args = parser.parse_args(argv)
    run(args.rows, args.slice, args.limit, args.window, {s for s in args.only.split(",") if s} or None)


if __name__ == "__main__":
    main()

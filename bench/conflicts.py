"""Conflicts at HubSpot's ceiling: a realistic first sync where some rows share an email and
some contacts already exist in HubSpot (made by forms or imports), matched on a custom unique
``sql_customer_id``, against an emulator that enforces 100 requests per 10 s.

The table: N customers, of which 3 % are invalid (a malformed email, an unmapped status, a tier
HubSpot has no option for), 1 % carry the email of another row (mixed case, padded), and 2 %
have an email that a contact in HubSpot already holds. Measured: API calls per synced record
(target <= 0.02), records per second, and the outcome of every row.

    .venv/bin/python -m bench.conflicts [--rows 10000] [--limit 100] [--workers 4]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import TOKEN, fill_customers, heading, md_table, quiet_logging, sqlite_engine
from shared.config import parse_config
from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.runtime import Runtime
from shared.settings import Settings
from shared.sync.run import run_sync
from tests.support import BAD_EMAIL, BAD_STATUS, BAD_TIER, config_dict


def scenario(engine: sa.Engine, table: sa.Table, rows_n: int, seed: int = 7) -> tuple[list[int], list[int]]:
    """Make 1 % of the rows duplicate another row's email and pick 2 % whose email exists in HubSpot."""
    rnd = random.Random(seed)
    valid = [i for i in range(1, rows_n + 1) if i % 100 not in (BAD_EMAIL, BAD_STATUS, BAD_TIER)]
    rnd.shuffle(valid)
    dup_n, existing_n = rows_n // 100, rows_n // 50
    duplicates, existing = valid[:dup_n], valid[dup_n:dup_n + existing_n]
    originals = valid[dup_n + existing_n:dup_n + existing_n + dup_n]
    with engine.begin() as conn:
        for copy, original in zip(duplicates, originals, strict=True):
            conn.execute(table.update().where(table.c.customer_id == copy)
                         .values(email=f"  USER{original}@Example.com "))
    return duplicates, existing


def seed_existing(url: str, existing: list[int]) -> None:
    writer = HubSpotWriter(SecretStr(TOKEN), url)
    for start in range(0, len(existing), 100):
        writer.upsert("contacts", "email", [(f"user{i}@example.com", {"email": f"user{i}@example.com",
                                                                      "firstname": "FromAForm"})
                                            for i in existing[start:start + 100]])


def run(rows_n: int, limit: int, workers: int) -> dict[str, Any]:
    from hubspot_emulator import Emulator

    with sqlite_engine() as engine, Emulator(token=TOKEN, rate_limit_per_10s=limit) as emu:
        emu.add_property("contacts", {"name": "sql_customer_id", "label": "SQL id", "type": "string",
                                      "fieldType": "text", "hasUniqueValue": True})
        table = fill_customers(engine, rows_n)
        duplicates, existing = scenario(engine, table, rows_n)
        seed_existing(emu.base_url, existing)
        time.sleep(10.5)  # the seeding's calls leave the emulator's rolling window
        data = config_dict(id_property="sql_customer_id", source={"state_schema": None, "page_size": 1000},
                           hubspot={"mode": "live", "requests_per_10s": limit, "max_attempts": 4})
        data["objects"][0]["fields"]["sql_customer_id"] = {"column": "customer_id", "transform": "string"}
        settings = Settings(hubspot_token=SecretStr(TOKEN), queue_name=f"bench-{random.randrange(10**8)}")
        rt = Runtime.build(settings, parse_config(data), engine=engine, hubspot_base_url=emu.base_url)
        rt.state.init_db()
        start = time.perf_counter()
        result = run_sync(rt, workers=workers)
        seconds = time.perf_counter() - start
        status_429 = sum(1 for _m, _p, status in emu.calls if status == 429)
        emails = [r["properties"].get("email") for r in emu.records("contacts")]
    r = result.run
    synced = r["created"] + r["updated"] + r["adopted"]
    return {"rows": r["rows_read"], "created": r["created"], "adopted": r["adopted"], "rejected": r["rejected"],
            "failed": r["failed"], "api_calls": r["api_calls"], "calls_per_record": r["api_calls"] / synced,
            "seconds": seconds, "records_per_s": synced / seconds, "status_429": status_429,
            "duplicates_planted": len(duplicates), "existing_planted": len(existing),
            "duplicate_contacts": len(emails) - len(set(emails))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.conflicts", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=100, help="requests per 10 s the emulator allows")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    quiet_logging()
    r = run(args.rows, args.limit, args.workers)
    print(heading("Conflicts at the ceiling: duplicates and existing contacts, first sync",
                  {"rows": args.rows, "limit per 10 s": args.limit, "workers": args.workers}))
    print(md_table(["rows", "created", "adopted", "rejected", "failed", "API calls", "calls per synced record",
                    "seconds", "records/s", "429s", "duplicate contacts in HubSpot"],
                   [[r["rows"], r["created"], r["adopted"], r["rejected"], r["failed"], r["api_calls"],
                     r["calls_per_record"], r["seconds"], r["records_per_s"], r["status_429"],
                     r["duplicate_contacts"]]]))
    print(f"\nplanted: {r['duplicates_planted']} rows sharing another row's email, "
          f"{r['existing_planted']} rows whose email a HubSpot contact already holds; "
          f"{args.rows * 3 // 100} invalid rows")


if __name__ == "__main__":
    main()

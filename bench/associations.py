"""HubSpot calls per synced record with associations: the demo's data (customers, their
companies, the companies' deals, linked by foreign keys) at a larger size, synced through the
emulator; the calls counted by kind from the emulator's own log.

Two orders: everything in one run (association targets are planned first, so links are made in
the batch that writes their rows), and customers first with their companies a run later (every
link waits as pending state and is made by the companies' batch).

    .venv/bin/python -m bench.associations [--rows 20000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from bench._common import ROOT, TOKEN, heading, machine_info, md_table, quiet_logging
from shared.config import parse_config
from shared.demo import create_demo_database
from shared.runtime import Runtime
from shared.settings import Settings
from shared.source.engine import create_source_engine
from shared.sync.run import run_sync


def _runtime(url: str, hubspot: str) -> Runtime:
    data = yaml.safe_load((ROOT / "examples/demo.yaml").read_text())
    data["source"]["url"] = url
    data["demo"] = False
    data["hubspot"] = {"mode": "live", "requests_per_10s": 1000}
    config = parse_config(data)
    settings = Settings(hubspot_token=SecretStr(TOKEN), queue_name=f"bench-{random.randrange(10**8)}")
    rt = Runtime.build(settings, config, engine=create_source_engine(url), hubspot_base_url=hubspot)
    rt.state.init_db()
    return rt


def one(rows: int, order: str) -> dict[str, Any]:
    from hubspot_emulator import Emulator

    with tempfile.TemporaryDirectory() as tmp, Emulator(token=TOKEN) as emu:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        create_demo_database(url, rows=rows)
        rt = _runtime(url, emu.base_url)
        start = time.perf_counter()
        if order == "one run":
            runs = [run_sync(rt, workers=4)]
        else:
            runs = [run_sync(rt, objects=["contacts"], workers=4), run_sync(rt, objects=["companies", "deals"], workers=4)]
        seconds = time.perf_counter() - start
        records = sum(r.run["created"] + r.run["updated"] + r.run["adopted"] for r in runs)
        linked = sum(r.run["linked"] for r in runs)
        writes = [c for c in emu.calls if "/crm/v3/objects/" in c[1]]
        links = [c for c in emu.calls_of("associations") if "/batch/" in c[1]]  # not the label reads
        rt.engine.dispose()
        return {"order": order, "records": records, "links": linked, "record calls": len(writes),
                "association calls": len(links), "all calls": len(emu.calls), "seconds": seconds}


def run(rows: int) -> None:
    quiet_logging()
    print(heading("Associations: HubSpot calls per synced record",
                  {"customers": rows, "companies": 10, "deals": max(2, rows // 20), **machine_info()}))
    table = []
    for order in ("one run", "customers first, companies a run later"):
        r = one(rows, order)
        table.append([r["order"], r["records"], r["links"], r["record calls"], r["association calls"],
                      round(r["links"] / max(1, r["association calls"])),
                      round(100 * (r["record calls"] + r["association calls"]) / max(1, r["records"]), 2),
                      r["all calls"], round(r["seconds"], 1)])
    print(md_table(["order", "records written", "links made", "record write calls", "association write calls",
                    "links per association write call", "calls per 100 records (writes + links)", "all calls",
                    "seconds"], table))
    print("\nAll calls also count the property schema, pipeline and association label reads at the start of each "
          "run. Target: one association call per 100 new links or fewer. In one run the links of a batch are made "
          "right after its rows (one call per batch: its rows less those rejected); links that wait for their "
          "targets are made together by the targets' batch (up to 2,000 per call).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.associations", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args(argv)
    run(args.rows)


if __name__ == "__main__":
    main()

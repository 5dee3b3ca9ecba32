"""Peak memory of a backfill through the in-process queue, for growing numbers of rows.

Each size runs in a fresh process (SQLite source and state, the emulator unthrottled in its own
process, 4 workers, ``run_sync`` as ``hubsync run`` does it) and reports its peak resident set
(``ru_maxrss``). The workers drain while the planner reads and the planner waits while
``shared.sync.run.MAX_BACKLOG`` messages are queued, so the peak should not grow with the rows.

    .venv/bin/python -m bench.backfill_memory [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench._common import ROOT, heading, machine_info, md_table

ONE = """
import json, resource, sys, time
from bench._common import emulator_process, fill_customers, quiet_logging, sqlite_engine
from bench.end_to_end import build_runtime
from shared.sync.run import run_sync
quiet_logging()
n = int(sys.argv[1])
with sqlite_engine() as engine, emulator_process() as url:
    fill_customers(engine, n)
    rt = build_runtime(engine, url)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = run_sync(rt, workers=4)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": result.run["rows_read"], "batches": result.plan.batches, "seconds": seconds,
                      "before_kib": base, "peak_kib": peak}))
"""


def run(sizes: list[int]) -> None:
    print(heading("Backfill memory through the in-process queue", {"sizes": sizes, **machine_info()}))
    rows = []
    for n in sizes:
        proc = subprocess.run([sys.executable, "-c", ONE, str(n)], cwd=ROOT, capture_output=True, text=True,
                              check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append([r["rows"], r["batches"], round(r["seconds"], 1), round(r["rows"] / r["seconds"]),
                     round(r["before_kib"] / 1024, 1), round(r["peak_kib"] / 1024, 1)])
    print(md_table(["rows", "batches", "seconds", "rows/s", "RSS after loading the table, MiB",
                    "peak RSS during the run, MiB"], rows))
    if len(rows) > 1:
        growth = rows[-1][-1] / rows[0][-1] - 1
        print(f"\npeak growth from {rows[0][0]:,} to {rows[-1][0]:,} rows: {growth:+.0%}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args(argv)
    run([int(s) for s in args.sizes.split(",") if s])


if __name__ == "__main__":
    main()

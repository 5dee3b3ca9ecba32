"""Run every benchmark, each in its own process, and print the results as one markdown report.

    .venv/bin/python -m bench.run_all [--quick] [--only mapping,delta_read,...] [--output FILE]

``--quick`` uses small sizes (a smoke test of the benchmarks, not figures to quote).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench._common import ROOT, machine_info, md_table

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (default arguments, --quick arguments)
    "mapping": ([], ["--rows", "10000", "--repeat", "1"]),
    "delta_read": ([], ["--rows", "20000", "--small", "5000"]),
    "end_to_end": ([], ["--rows", "1000", "--workers", "1,4", "--pg-workers", "4", "--budget-rows", "0"]),
    "azurite_queue": ([], ["--messages", "100"]),
    "conflicts": ([], ["--rows", "1000"]),
    "planner_overhead": ([], ["--rows", "20000"]),
    "rate_ceiling": ([], ["--rows", "3100", "--slice", "100"]),
    "state_cost": ([], ["--rows", "3000"]),
    "backfill_memory": ([], ["--sizes", "2000,6000"]),
    "associations": ([], ["--rows", "1000"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check the benchmarks run")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    parts = ["# hubsync benchmarks\n", md_table(["machine", ""], list(machine_info().items())), ""]
    print("\n".join(parts), flush=True)
    failed = []
    total = time.perf_counter()
    for name in names:
        default, quick = BENCHMARKS[name]
        command = [sys.executable, "-m", f"bench.{name}", *(quick if args.quick else default)]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        section = [f"## {name}\n", f"`{' '.join(['.venv/bin/python', *command[1:]])}` ({seconds:.0f} s)\n"]
        if proc.returncode == 0:
            section.append(proc.stdout.rstrip() + "\n")
        else:
            failed.append(name)
            section.append(f"**failed (exit {proc.returncode})**\n\n```\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}\n```\n")
        text = "\n".join(section)
        parts.append(text)
        print(text, flush=True)
    tail = f"_all benchmarks: {time.perf_counter() - total:.0f} s_\n"
    parts.append(tail)
    print(tail)
    if args.output:
        args.output.write_text("\n".join(parts), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

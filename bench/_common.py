"""Helpers shared by the benchmarks: machine facts, markdown tables, timing, scratch databases,
the HubSpot emulator, quiet logging."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
PG_URL = os.environ.get("HUBSYNC_BENCH_PG_URL", "postgresql+psycopg://hubsync:hubsync@127.0.0.1:5432/hubsync_test")


# -- reporting --------------------------------------------------------------------------------

def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; numbers are right-aligned."""
    cells = [[_fmt(c) for c in row] for row in rows]
    numeric = [all(isinstance(row[i], int | float) for row in rows) if rows else False for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if numeric[i] else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if value else "0"
    return str(value)


def heading(title: str, params: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"### {title}\n\n_parameters: {shown}_\n"


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    import sqlalchemy

    return {
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
    }


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def quiet_logging() -> None:
    """hubsync's CLI logging as ``hubsync run`` sets it up without --verbose (level ERROR, masking
    filter), with the output thrown away: rejected rows would otherwise print a warning each."""
    from shared.sync_logger import configure

    configure(logging.ERROR)
    for handler in logging.getLogger("hubsync").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the process


# -- data -------------------------------------------------------------------------------------

def fill_customers(engine: sa.Engine, n: int, schema: str | None = None, seed: int = 1,
                   chunk: int = 5000) -> sa.Table:
    """``tests.support.create_customers`` in bigger chunks (the same rows, loaded faster)."""
    from tests.support import customer, customers_table

    table = customers_table(schema)
    table.metadata.create_all(engine)
    rnd = random.Random(seed)
    with engine.begin() as conn:
        for start in range(1, n + 1, chunk):
            rows = [customer(i, rnd) for i in range(start, min(n, start + chunk - 1) + 1)]
            for row in rows:
                row["vip"] = int(row["vip"])
            conn.execute(table.insert(), rows)
    analyze = {"postgresql": f"ANALYZE {table.fullname}", "sqlite": "ANALYZE"}.get(engine.dialect.name)
    if analyze:  # statistics, as a user's table has them (without, PostgreSQL may scan it whole)
        with engine.begin() as conn:
            conn.execute(sa.text(analyze))
    return table


@contextlib.contextmanager
def sqlite_engine(name: str = "source.db") -> Iterator[sa.Engine]:
    """A SQLite file in a scratch directory, built as hubsync builds its source engine."""
    from shared.source.engine import create_source_engine

    workdir = Path(tempfile.mkdtemp(prefix="hubsync-bench-"))
    engine = create_source_engine(f"sqlite:///{workdir / name}")
    try:
        yield engine
    finally:
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def pg_schemas() -> Iterator[tuple[sa.Engine, str, str]]:
    """A PostgreSQL engine and two fresh schemas (source, state), dropped afterwards."""
    from shared.source.engine import create_source_engine

    engine = create_source_engine(PG_URL)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    state = f"{name}_state"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield engine, name, state
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{state}" CASCADE'))
        engine.dispose()


# -- services ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, path: str | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[:500] if proc.stderr else ""
            raise RuntimeError(f"{what} exited: {err}")
        try:
            if path:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=0.5):  # noqa: S310 - loopback
                    return
            else:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def emulator_process(*extra: str, log: Path | None = None) -> Iterator[str]:
    """The HubSpot emulator in its own process (its own GIL and CPU); yields its base URL.
    ``extra`` are more command-line options; with ``log``, requests are logged to that file."""
    port = free_port()
    command = [sys.executable, "-m", "hubspot_emulator", "--port", str(port), "--token", TOKEN, *extra]
    if log is not None:
        command.append("--verbose")
    with contextlib.ExitStack() as stack:
        stderr: Any = stack.enter_context(open(log, "wb")) if log is not None else subprocess.PIPE
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_for_port(port, proc, "the HubSpot emulator", "/_emulator/health")
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(proc)


@contextlib.contextmanager
def emulator_inproc() -> Iterator[str]:
    from hubspot_emulator import Emulator

    with Emulator(token=TOKEN) as emu:
        yield emu.base_url


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@contextlib.contextmanager
def azurite() -> Iterator[str]:
    """Azurite's queue and blob services in memory, as tests/conftest.py starts them; yields a
    connection string."""
    command = os.environ.get("HUBSYNC_TEST_AZURITE") or str(ROOT / ".tools/node_modules/.bin/azurite-queue")
    both = Path(command).with_name("azurite")
    if not both.exists():
        raise SystemExit("Azurite is not installed: run `bash scripts/test` once (it installs it into .tools/)")
    queue_port, blob_port, table_port = free_port(), free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="azurite-bench-"))
    proc = subprocess.Popen(
        [str(both), "--queueHost", "127.0.0.1", "--queuePort", str(queue_port), "--blobHost", "127.0.0.1",
         "--blobPort", str(blob_port), "--tableHost", "127.0.0.1", "--tablePort", str(table_port),
         "--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(queue_port, proc, "Azurite")
        _wait_for_port(blob_port, proc, "Azurite")
        yield ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
               f"AccountKey={AZURITE_KEY};QueueEndpoint=http://127.0.0.1:{queue_port}/devstoreaccount1;"
               f"BlobEndpoint=http://127.0.0.1:{blob_port}/devstoreaccount1;")
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def capture(fn: Any, *args: Any) -> str:
    """Run ``fn`` and return what it printed (for run_all)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(*args)
    return buf.getvalue()

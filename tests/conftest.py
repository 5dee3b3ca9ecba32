"""Shared fixtures: real local services (Azurite, PostgreSQL, SQLite, the HubSpot emulator).

`scripts/test` installs and starts what these need and exports:
- HUBSYNC_TEST_PG_URL: a PostgreSQL database the tests may create schemas in;
- HUBSYNC_TEST_AZURITE: the azurite-queue command.
A missing service fails the tests that need it (it does not skip them), naming the fix.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hubspot_emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token"
# Azurite's documented development account key (public, not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers come from folders."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in ("unit", "integration", "functions", "e2e", "infra", "emulator"):
            item.add_marker(getattr(pytest.mark, parts[0]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A real Azurite (queue and blob services); yields its connection string."""
    command = os.environ.get("HUBSYNC_TEST_AZURITE") or shutil.which("azurite-queue")
    local = ROOT / ".tools/node_modules/.bin/azurite-queue"
    if not command and local.exists():
        command = str(local)
    if not command:
        pytest.fail("Azurite is not installed: run the suite with `bash scripts/test`")
    both = Path(command).with_name("azurite")  # the same package's command for every service
    if not both.exists():
        pytest.fail(f"Azurite's combined command is missing next to {command}: run `bash scripts/test`")
    queue_port, blob_port, table_port = _free_port(), _free_port(), _free_port()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"azurite-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    proc = subprocess.Popen(
        [str(both), "--queueHost", "127.0.0.1", "--queuePort", str(queue_port), "--blobHost", "127.0.0.1",
         "--blobPort", str(blob_port), "--tableHost", "127.0.0.1", "--tablePort", str(table_port),
         "--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=workdir,
    )
    deadline = time.monotonic() + 30
    for port in (queue_port, blob_port):
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"Azurite exited: {proc.stderr.read().decode()[:500] if proc.stderr else ''}")
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail("Azurite did not start within 30 s")
    yield (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};QueueEndpoint=http://127.0.0.1:{queue_port}/devstoreaccount1;"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/devstoreaccount1;"
    )
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    url = os.environ.get("HUBSYNC_TEST_PG_URL")
    if not url:
        pytest.fail("HUBSYNC_TEST_PG_URL is not set: run the suite with `bash scripts/test`, which starts PostgreSQL")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as err:
        pytest.fail(f"PostgreSQL at HUBSYNC_TEST_PG_URL is not reachable: {err.orig}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_schema(pg_engine: sa.Engine) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test's source tables, dropped afterwards."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield name
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}_state" CASCADE'))  # tests put state beside it


@pytest.fixture(params=["sqlite", "postgresql"])
def source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.Engine, str | None]]:
    """The same test on a SQLite file and in a fresh PostgreSQL schema: (engine, schema or None)."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
        yield engine, None
        engine.dispose()
    else:
        yield request.getfixturevalue("pg_engine"), request.getfixturevalue("pg_schema")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'source.db'}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No hubsync or Azure settings leak in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("HUBSYNC_", "HUBSPOT_", "AzureWebJobs", "AZURE_")) and not name.startswith("HUBSYNC_TEST_"):
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def project(tmp_path, emulator):
    """A SQLite source of 60 customers, its YAML file and the environment to run `hubsync` on it."""
    from tests.support import config_dict, create_customers

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    create_customers(engine, 60)
    config = config_dict()
    config["source"]["url"] = f"sqlite:///{tmp_path / 'src.db'}"
    path = tmp_path / "hubsync.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": emulator.base_url, "HUBSYNC_CONFIG": str(path)}
    return {"path": path, "env": env, "cwd": tmp_path, "engine": engine, "config": config}



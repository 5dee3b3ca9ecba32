"""`hubsync poison replay` runs the handler with the runtime's queue. With the default
in-process queue (queue.backend: memory), a 429 during the replay makes the handler re-queue
the batch into that in-process queue, which nobody drains and which dies with the process;
the parked batch is nevertheless marked 'replayed', so it can never be replayed again."""

from __future__ import annotations

import sqlalchemy as sa
import yaml

from tests.conftest import TOKEN
from tests.e2e.test_cli import hubsync
from tests.support import config_dict, create_customers


def test_poison_replay_hit_by_a_429_does_not_lose_the_batch(tmp_path, emulator):
    db = tmp_path / "src.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    create_customers(engine, 5)
    config = config_dict()
    config["source"]["url"] = f"sqlite:///{db}"
    config["hubspot"]["max_attempts"] = 1
    config["queue"]["max_dequeue_count"] = 1
    path = tmp_path / "hubsync.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": emulator.base_url, "HUBSYNC_CONFIG": str(path)}

    assert hubsync("init-db", env=env, cwd=tmp_path).returncode == 0
    emulator.inject_fault(503, path_contains="batch/upsert")       # HubSpot outage: the batch is parked
    run = hubsync("run", "--workers", "1", env=env, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    listed = hubsync("poison", "list", env=env, cwd=tmp_path)
    assert listed.stdout.count("#") == 1, listed.stdout

    emulator.inject_fault(429, path_contains="batch/upsert")       # the operator replays into a busy portal
    replay = hubsync("poison", "replay", "--all", env=env, cwd=tmp_path)

    still_parked = hubsync("poison", "list", env=env, cwd=tmp_path).stdout.count("#")
    synced = len(emulator.records("contacts"))
    assert synced == 5 or still_parked == 1, (
        f"replay said {replay.stdout.strip()!r} (exit {replay.returncode}); HubSpot holds {synced} of 5 "
        f"contacts and {still_parked} batch is left to replay"
    )

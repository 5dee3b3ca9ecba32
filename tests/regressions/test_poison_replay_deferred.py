"""`hubsync poison replay` runs the handler with the runtime's queue. With the default
in-process queue (queue.backend: memory), a 429 during the replay makes the handler re-queue
the batch into that in-process queue, which nobody drains and which dies with the process;
the parked batch is nevertheless marked 'replayed', so it can never be replayed again."""

from __future__ import annotations

import sqlalchemy as sa
import yaml

from tests.conftest import TOKEN
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers, hubsync


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

    # a batch the Functions host gave up on during an outage, parked by the poison function
    rt = make_runtime(engine, emulator, config=config)
    rt.planner().plan("timer")
    [body] = rt.queue.peek_all()
    rt.handler().park(body, "m1", 5, queue="hubsync-batches-poison")
    listed = hubsync("poison", "list", env=env, cwd=tmp_path)
    assert listed.stdout.count("#") == 1, listed.stdout

    emulator.inject_fault(429, path_contains="batch/upsert")       # the operator replays into a busy portal
    busy = hubsync("poison", "replay", "--all", env=env, cwd=tmp_path)

    assert busy.returncode == 1 and "still failing" in busy.stdout, busy.stdout + busy.stderr
    assert len(emulator.records("contacts")) == 0
    assert hubsync("poison", "list", env=env, cwd=tmp_path).stdout.count("#") == 1  # kept for the next replay

    calm = hubsync("poison", "replay", "--all", env=env, cwd=tmp_path)  # the portal calmed down

    assert calm.returncode == 0 and "replayed: done" in calm.stdout, calm.stdout + calm.stderr
    assert len(emulator.records("contacts")) == 5
    assert "no parked batches" in hubsync("poison", "list", env=env, cwd=tmp_path).stdout

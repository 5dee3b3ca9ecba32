"""Issue 8.7 and 8.8: a parked message whose ids are longer than the poison table's columns was
lost on PostgreSQL (the insert failed); `poison replay` of a batch that is still malformed parked
a copy each time (7 -> 14 -> 28 rows; a 5 MB body stored as 20 MB)."""

from __future__ import annotations

import json

from tests.regressions.helpers import make_runtime
from tests.support import config_dict, hubsync


def test_a_message_with_overlong_ids_is_parked_on_postgresql(pg_engine, pg_schema, emulator):
    rt = make_runtime(pg_engine, emulator, config=config_dict(state_schema=f"{pg_schema}_state"))
    body = json.dumps({"sv": 1, "batch_id": "b" * 200, "run_id": "r", "object": "contacts", "keys": "nope"})

    outcome = rt.handler().handle(body, 1, "m" * 300)

    assert outcome == "parked"
    [parked] = rt.state.list_poison()
    assert parked["body"] == body  # kept whole, to replay or read
    assert parked["batch_id"].startswith("b" * 40) and len(parked["batch_id"]) == 80
    assert len(parked["message_id"]) == 100


def test_replaying_a_still_malformed_batch_keeps_one_copy(project, emulator):
    env, cwd = project["env"], project["cwd"]
    assert hubsync("init-db", env=env, cwd=cwd).returncode == 0
    rt = make_runtime(project["engine"], emulator, config=config_dict(state_schema=None))
    rt.handler().handle('{"sv": 1, "batch_id": "x", "keys": 12}', 1, "m1")  # parked once, malformed

    for _ in range(3):
        replay = hubsync("poison", "replay", "--all", env=env, cwd=cwd)
        assert replay.returncode == 1 and "still failing" in replay.stdout

    assert len(rt.state.list_poison()) == 1
    assert "message does not match schema" in rt.state.list_poison()[0]["error"]

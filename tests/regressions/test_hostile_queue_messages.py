"""Issue 8.6: with `queue.backend: azure`, a message that is not base64, not UTF-8, or whose keys
have the wrong type (a dict; a word for an integer column on PostgreSQL) made every run exit 2 or
3 while its dequeue count grew, and it was never parked. Each is now parked once, with its
reason, and the rest of the queue is synced."""

from __future__ import annotations

import base64
import json
import random

import pytest
from azure.storage.queue import QueueClient

from shared.queue.backends import StorageQueue
from shared.settings import Settings
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers

pytestmark = pytest.mark.integration


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def hostile_bodies() -> dict[str, str]:
    valid = {"sv": 1, "run_id": "r-old", "batch_id": "r-old:contacts:9", "object": "contacts",
             "keys": [{"k": [1], "v": "00000000000000000001"}]}
    return {
        "not base64": "this is {not} base64 at all!",
        "not UTF-8": base64.b64encode(b"\xff\xfe\x00bad").decode("ascii"),
        "a dict key": b64(json.dumps({**valid, "batch_id": "r-old:contacts:10",
                                      "keys": [{"k": [{"id": 1}], "v": "1"}]})),
        "a word for an integer": b64(json.dumps({**valid, "batch_id": "r-old:contacts:11",
                                                 "keys": [{"k": ["one"], "v": "1"}]})),
    }


def test_hostile_messages_on_the_storage_queue_are_parked_once_and_the_run_goes_on(
        pg_engine, pg_schema, emulator, azurite):
    create_customers(pg_engine, 30, schema=pg_schema)
    settings = Settings(queue_name=f"q{random.randrange(10**8)}", storage_connection=azurite)
    queue = StorageQueue.connect(settings.queue_name, {"AzureWebJobsStorage": azurite}, create=True)
    poison = StorageQueue.connect(settings.poison_queue_name, {"AzureWebJobsStorage": azurite}, create=True)
    raw = QueueClient.from_connection_string(azurite, settings.queue_name)  # writes bodies exactly as given
    for body in hostile_bodies().values():
        raw.send_message(body)
    data = config_dict(table=f"{pg_schema}.customers", state_schema=f"{pg_schema}_state", backend="azure")
    rt = make_runtime(pg_engine, emulator, config=data, queue=queue, poison_queue=poison)

    result = run_sync(rt, workers=2, base_backoff=0.01)

    assert result.drain.fatal is None, result.drain.fatal
    parked = rt.state.list_poison()
    assert len(parked) == 4, [p["error"] for p in parked]
    reasons = " | ".join(p["error"] for p in parked)
    assert reasons.count("malformed message") == 2  # not base64, not UTF-8: not JSON once stored
    assert "does not fit column customer_id" in reasons
    assert result.run["created"] == 30  # every row of the delta synced beside them
    again = run_sync(rt, workers=2, base_backoff=0.01)
    assert again.drain.fatal is None and len(rt.state.list_poison()) == 4  # parked once, not again

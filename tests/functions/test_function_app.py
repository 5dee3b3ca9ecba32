"""The Azure entry points, indexed the way the host indexes them and called without the host,
against Azurite, SQLite and the emulator."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
import sqlalchemy as sa
from azure.functions import HttpRequest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from shared.errors import ConfigurationError
from shared.queue.backends import StorageQueue
from tests.conftest import TOKEN
from tests.support import assert_converged, config_dict, create_customers

QUEUE = "hubsync-fn-tests"


@pytest.fixture
def app_env(clean_env, tmp_path, emulator, azurite):
    """App settings as Azure would give them, pointing at local services."""
    import yaml

    url = f"sqlite:///{tmp_path / 'src.db'}"
    engine = sa.create_engine(url)
    table = create_customers(engine, 120)
    config = config_dict(backend="azure")
    (tmp_path / "hubsync.yaml").write_text(yaml.safe_dump(config))
    env = {
        "HUBSYNC_CONFIG": str(tmp_path / "hubsync.yaml"),
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": emulator.base_url,
        "HUBSYNC_SOURCE_URL": url,
        "HUBSYNC_SCHEDULE": "0 */5 * * * *",
        "HUBSYNC_QUEUE_NAME": QUEUE,
        "AzureWebJobsStorage": azurite,
    }
    for k, v in env.items():
        clean_env.setenv(k, v)
    from functions.runtime import get_runtime, reset_runtime

    reset_runtime()
    rt = get_runtime()
    rt.state.init_db()
    for q in (rt.queue, rt.poison_queue):
        q.clear()
    yield {"env": env, "engine": engine, "table": table, "rt": rt}
    reset_runtime()


def _load_app():
    """Import function_app afresh (its settings check runs at import) and index it once, as the
    host does: get_functions() may be called only once per app."""
    for name in [m for m in sys.modules if m == "function_app" or m.startswith("functions.")]:
        if name != "functions.runtime":
            del sys.modules[name]
    app = importlib.import_module("function_app").app
    return {f.get_function_name(): f for f in app.get_functions()}


def test_app_indexes_one_function_per_trigger_with_settings_driven_bindings(app_env):
    functions = _load_app()
    assert set(functions) == {"planner", "worker", "poison", "health"}

    def binding(name):
        return json.loads(functions[name].get_function_json())["bindings"][0]

    timer = binding("planner")
    assert timer["type"] == "timerTrigger" and timer["schedule"] == "%HUBSYNC_SCHEDULE%"
    assert timer.get("runOnStartup") in (False, None)
    worker = binding("worker")
    assert worker["type"] == "queueTrigger"
    assert worker["queueName"] == "%HUBSYNC_QUEUE_NAME%" and worker["connection"] == "AzureWebJobsStorage"
    poison = binding("poison")
    assert poison["queueName"] == "%HUBSYNC_QUEUE_NAME%-poison" and poison["connection"] == "AzureWebJobsStorage"
    http = binding("health")
    assert http["type"] == "httpTrigger" and http["authLevel"].lower() == "function" and http["route"] == "health"


def _user_function(functions, name):
    return functions[name].get_user_function()


def _queue_message(rt, queue):
    [received] = queue.receive(1, 30)
    return received, QueueMessage(id=received.id, body=received.body.encode(), dequeue_count=received.dequeue_count,
                                  pop_receipt=received.pop_receipt)


def test_timer_enqueues_and_queue_function_syncs_each_batch(app_env, emulator):
    rt = app_env["rt"]
    app = _load_app()
    planner, worker = _user_function(app, "planner"), _user_function(app, "worker")

    planner(TimerRequest(past_due=False))

    assert rt.queue.approximate_count() == 2  # 120 rows, pages of 137 -> 100 + 20
    while rt.queue.approximate_count():
        received, msg = _queue_message(rt, rt.queue)
        worker(msg)
        rt.queue.delete(received)
    run = rt.state.recent_runs(1)[0]
    assert run["status"] == "finished" and run["mode"] == "timer"
    assert run["created"] == 117 and run["rejected"] == 3
    assert_converged(rt, emulator, app_env["table"])


def test_queue_function_raises_on_hubspot_outage_so_the_host_retries(app_env, emulator):
    rt = app_env["rt"]
    app = _load_app()
    _user_function(app, "planner")(TimerRequest(past_due=True))
    emulator.inject_fault(503, times=100)
    received, msg = _queue_message(rt, rt.queue)

    with pytest.raises(Exception, match="503"):
        _user_function(app, "worker")(msg)

    batch_id = json.loads(received.body)["batch_id"]
    assert "503" in (rt.state.batch_error(batch_id) or "")


def test_poison_function_stores_the_message_durably_with_its_last_error(app_env, emulator):
    rt = app_env["rt"]
    app = _load_app()
    _user_function(app, "planner")(TimerRequest(past_due=False))
    emulator.inject_fault(503, times=100)
    received, msg = _queue_message(rt, rt.queue)
    with pytest.raises(Exception, match="503"):
        _user_function(app, "worker")(msg)
    # the host moves the message to <queue>-poison after maxDequeueCount; do the same here
    rt.poison_queue.send(received.body)
    rt.queue.delete(received)
    _, poison_msg = _queue_message(rt, rt.poison_queue)

    _user_function(app, "poison")(poison_msg)

    [parked] = rt.state.list_poison()
    assert parked["body"] == received.body and parked["queue"] == QUEUE + "-poison"
    assert "503" in parked["error"]
    failed = [r for r in rt.state.all_records("contacts") if r.last_outcome == "failed"]
    assert failed and all("poison store" in r.reason for r in failed)


def test_malformed_message_is_parked_at_once_not_retried(app_env):
    rt = app_env["rt"]
    app = _load_app()
    _user_function(app, "worker")(QueueMessage(id="m1", body=b"{not json", dequeue_count=1))
    [parked] = rt.state.list_poison()
    assert parked["body"] == "{not json" and "malformed" in parked["error"]


def test_messages_on_the_queue_are_base64_as_the_trigger_expects(app_env, azurite):
    from azure.storage.queue import QueueClient

    app = _load_app()
    _user_function(app, "planner")(TimerRequest(past_due=False))
    raw = QueueClient.from_connection_string(azurite, QUEUE)  # no decode policy: the stored text
    [peeked] = raw.peek_messages(1)
    import base64

    decoded = json.loads(base64.b64decode(peeked.content))
    assert decoded["sv"] == 1 and decoded["object"] == "contacts"
    assert "@" not in base64.b64decode(peeked.content).decode()  # keys, no personal data


def test_health_endpoint_reports_runs_and_parked_batches(app_env):
    app = _load_app()
    _user_function(app, "planner")(TimerRequest(past_due=False))
    response = _user_function(app, "health")(HttpRequest("GET", "/api/health", body=b"", params={}))
    body = json.loads(response.get_body())
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["runs"][0]["mode"] == "timer" and body["parked_batches"] == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"HUBSYNC_QUEUE_NAME": "q" * 57}, "HUBSYNC_QUEUE_NAME"),
        ({"HUBSYNC_SCHEDULE": "*/5 * * * *"}, "HUBSYNC_SCHEDULE"),
        ({"HUBSYNC_SCHEDULE": "0 61 * * * *"}, "HUBSYNC_SCHEDULE"),
        ({"HUBSPOT_ACCESS_TOKEN": None}, "HUBSPOT_ACCESS_TOKEN"),
        ({"HUBSYNC_CONFIG": None, "HUBSYNC_CONFG": "x.yaml"}, "misspelt"),
    ],
)
def test_app_refuses_to_start_naming_the_setting(app_env, clean_env, change, named):
    for key, value in change.items():
        if value is None:
            clean_env.delenv(key, raising=False)
        else:
            clean_env.setenv(key, value)
    with pytest.raises(ConfigurationError, match=named):
        _load_app()


def test_storage_queue_refuses_messages_over_64_kib(azurite):
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

    from shared.queue.backends import MessageTooLarge

    queue = StorageQueue.connect("hubsync-size-test", {"AzureWebJobsStorage": azurite}, create=True)
    with pytest.raises(MessageTooLarge):
        queue.send("x" * 50_000)  # 66,668 bytes once base64-encoded
    # and Azurite itself refuses such a message, so the local guard mirrors the real limit
    raw = QueueClient.from_connection_string(azurite, "hubsync-size-test", message_encode_policy=TextBase64EncodePolicy())
    with pytest.raises(Exception, match="RequestBodyTooLarge|too large|413"):
        raw.send_message("x" * 50_000)
    queue.send("x" * 48_000)  # 64,000 bytes encoded: accepted
    assert queue.approximate_count() == 1

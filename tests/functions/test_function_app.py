"""The Azure entry points, indexed the way the host indexes them and called without the host,
against Azurite, SQLite and the emulator."""

from __future__ import annotations

import importlib
import json
import logging
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


KV_TOKEN = "@Microsoft.KeyVault(SecretUri=https://kv-hubsync-dev-abc123.vault.azure.net/secrets/hubspot-access-token/)"
KV_SOURCE = "@Microsoft.KeyVault(VaultName=kv-hubsync-dev-abc123;SecretName=hubsync-source-url)"

# (setting changes, files to write under the test's tmp dir, what the message must name, and its fix)
BAD_INPUT = {
    "queue name too long": ({"HUBSYNC_QUEUE_NAME": "q" * 57}, {}, "HUBSYNC_QUEUE_NAME", "3 to 56"),
    "queue name with capitals": ({"HUBSYNC_QUEUE_NAME": "Hubsync_Batches"}, {}, "HUBSYNC_QUEUE_NAME",
                                 "lowercase letters, digits and single hyphens"),
    "schedule of five fields": ({"HUBSYNC_SCHEDULE": "*/5 * * * *"}, {}, "HUBSYNC_SCHEDULE", "six"),
    "schedule out of range": ({"HUBSYNC_SCHEDULE": "0 61 * * * *"}, {}, "HUBSYNC_SCHEDULE", "0-59"),
    "token missing": ({"HUBSPOT_ACCESS_TOKEN": None}, {}, "HUBSPOT_ACCESS_TOKEN is missing", "private-app token"),
    "config setting misspelt": ({"HUBSYNC_CONFIG": None, "HUBSYNC_CONFG": "x.yaml"}, {}, "HUBSYNC_CONFIG",
                                "misspelt"),
    "token: unresolved Key Vault reference": (
        {"HUBSPOT_ACCESS_TOKEN": KV_TOKEN}, {}, "HUBSPOT_ACCESS_TOKEN holds an unresolved Key Vault reference",
        "grant the app's identity 'Key Vault Secrets User' on vault 'kv-hubsync-dev-abc123'"),
    "source URL: unresolved Key Vault reference": (
        {"HUBSYNC_SOURCE_URL": KV_SOURCE}, {}, "HUBSYNC_SOURCE_URL holds an unresolved Key Vault reference",
        "--name hubsync-source-url"),
    "config file missing": ({"HUBSYNC_CONFIG": "config/not-there.yaml"}, {}, "HUBSYNC_CONFIG: configuration file",
                            "does not exist"),
    "config file not YAML": ({"HUBSYNC_CONFIG": "{tmp}/broken.yaml"}, {"broken.yaml": "objects: [\n  - {name: x\n"},
                             "HUBSYNC_CONFIG", "not valid YAML at line"),
    "config file invalid": ({"HUBSYNC_CONFIG": "{tmp}/invalid.yaml"}, {"invalid.yaml": "version: 1\nobjects: []\n"},
                            "HUBSYNC_CONFIG", "objects"),
    "no source database": ({"HUBSYNC_SOURCE_URL": None}, {}, "HUBSYNC_SOURCE_URL", "no source database"),
}


def _health(functions) -> tuple[int, dict]:
    response = _user_function(functions, "health")(HttpRequest("GET", "/api/health", body=b"", params={}))
    return response.status_code, json.loads(response.get_body())


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_keeps_health_reporting_and_nothing_enqueued_or_sent(app_env, clean_env, emulator, tmp_path,
                                                                       caplog, case):
    change, files, named, fix = BAD_INPUT[case]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for key, value in change.items():
        if value is None:
            clean_env.delenv(key, raising=False)
        else:
            clean_env.setenv(key, value.replace("{tmp}", str(tmp_path)))
    rt = app_env["rt"]
    caplog.set_level("ERROR", logger="hubsync")

    functions = _load_app()  # does not raise: the health endpoint stays indexed

    assert "health" in functions
    assert not {"worker", "poison"} & set(functions), "a queue function would dequeue (and spend) messages"
    first = caplog.records[0].getMessage()
    assert first.startswith("hubsync cannot start") and named in first and fix in first
    status, body = _health(functions)
    problems = "\n".join(body["problems"])
    assert status == 503 and body["status"] == "misconfigured"
    assert named in problems and fix in problems
    if "planner" in functions:  # its binding resolves: it fails fast, naming the same problem
        with pytest.raises(ConfigurationError, match="hubsync cannot start") as info:
            _user_function(functions, "planner")(TimerRequest(past_due=False))
        assert named in str(info.value)
    else:
        assert "HUBSYNC_SCHEDULE" in named
    assert rt.queue.approximate_count() == 0 and emulator.calls == []
    assert TOKEN not in json.dumps(body)


def test_unresolved_key_vault_reference_is_never_sent_as_a_token(app_env, clean_env, emulator):
    clean_env.setenv("HUBSPOT_ACCESS_TOKEN", KV_TOKEN)
    _load_app()
    from functions.runtime import get_runtime

    with pytest.raises(ConfigurationError, match="HUBSPOT_ACCESS_TOKEN holds an unresolved Key Vault reference"):
        get_runtime()
    assert emulator.calls == []


def test_a_relative_config_path_is_read_from_the_app_root(app_env, clean_env):
    from functions.runtime import APP_ROOT

    clean_env.setenv("HUBSYNC_CONFIG", "examples/demo.yaml")  # as Azure gives it: relative to the package root
    clean_env.chdir("/")
    functions = _load_app()
    assert {"worker", "poison", "planner", "health"} <= set(functions)
    assert (APP_ROOT / "examples/demo.yaml").is_file()


# -- the database refuses: the planner's gate and the health endpoint (PostgreSQL, a real permission check) --


@pytest.fixture
def pg_app_env(clean_env, tmp_path, emulator, azurite, pg_engine, pg_schema):
    import yaml

    table = create_customers(pg_engine, 30, schema=pg_schema)
    config = config_dict(table=f"{pg_schema}.customers", backend="azure", state_schema=f"{pg_schema}_state")
    (tmp_path / "hubsync.yaml").write_text(yaml.safe_dump(config))
    env = {
        "HUBSYNC_CONFIG": str(tmp_path / "hubsync.yaml"), "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": emulator.base_url, "HUBSYNC_SOURCE_URL": pg_engine.url.render_as_string(False),
        "HUBSYNC_SCHEDULE": "0 */5 * * * *", "HUBSYNC_QUEUE_NAME": QUEUE, "AzureWebJobsStorage": azurite,
    }
    for k, v in env.items():
        clean_env.setenv(k, v)
    from functions.runtime import get_runtime, reset_runtime

    reset_runtime()
    rt = get_runtime()
    for q in (rt.queue, rt.poison_queue):
        q.clear()
    yield {"rt": rt, "schema": pg_schema, "table": table}
    reset_runtime()
    rt.engine.dispose()


def _refuse(rt, statement: str) -> None:
    with rt.engine.begin() as conn:
        conn.execute(sa.text(statement))


def _assert_not_ready(functions, rt, emulator, *expected: str) -> None:
    status, body = _health(functions)
    problems = "\n".join(body["problems"])
    assert status == 503 and body["status"] == "not_ready", body
    for text in expected:
        assert text in problems, problems
    with pytest.raises(ConfigurationError, match="hubsync is not ready to sync") as info:
        _user_function(functions, "planner")(TimerRequest(past_due=False))
    assert all(text in str(info.value) for text in expected)
    assert rt.queue.approximate_count() == 0 and emulator.calls == []


def test_missing_state_tables_name_init_db(pg_app_env, emulator):
    functions = _load_app()
    rt = pg_app_env["rt"]
    _assert_not_ready(functions, rt, emulator, "state tables are missing", "hubsync init-db")


def test_missing_select_on_the_source_table_names_the_grant(pg_app_env, emulator):
    rt, schema = pg_app_env["rt"], pg_app_env["schema"]
    rt.state.init_db()
    functions = _load_app()
    assert _health(functions)[0] == 200  # every privilege: ready

    _refuse(rt, f'REVOKE SELECT ON "{schema}".customers FROM CURRENT_USER')

    _assert_not_ready(functions, rt, emulator, "cannot read table", "permission denied",
                      f'GRANT SELECT ON "{schema}"."customers" TO "hubsync"')


def test_missing_write_on_the_state_tables_names_the_grant(pg_app_env, emulator):
    rt, schema = pg_app_env["rt"], pg_app_env["schema"]
    rt.state.init_db()
    _refuse(rt, f'REVOKE INSERT, DELETE ON "{schema}_state".runs FROM CURRENT_USER')
    functions = _load_app()

    _assert_not_ready(functions, rt, emulator, f"{schema}_state.runs: INSERT, DELETE",
                      f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}_state" TO "hubsync"')


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


def test_the_documented_database_step_turns_a_fresh_deployment_green(pg_app_env, emulator):
    """docs/azure.md: the database's Microsoft Entra admin runs `hubsync init-db --grant-to <identityName>`
    once; the health check that failed naming it then answers 200."""
    from typer.testing import CliRunner

    from shared.cli import app as cli

    hubsync_logger = logging.getLogger("hubsync")
    level, handlers = hubsync_logger.level, list(hubsync_logger.handlers)  # the CLI sets them for its process
    functions = _load_app()
    status, body = _health(functions)
    assert status == 503 and "run `hubsync init-db`" in "\n".join(body["problems"])

    result = CliRunner().invoke(cli, ["init-db", "--grant-to", "hubsync"])
    hubsync_logger.setLevel(level)
    hubsync_logger.handlers[:] = handlers

    assert result.exit_code == 0, result.output
    assert 'granted to hubsync: GRANT USAGE ON SCHEMA' in result.output
    status, body = _health(functions)
    assert (status, body["status"], body["problems"]) == (200, "ok", []), body
    assert body["runs"] == [] and body["parked_batches"] == 0 and body["queued"] == 0

"""The local rehearsal (docs/azure.md, scripts/local/start) stays true to the code: every command
it runs exists with the flags it passes, local.settings.example.json starts the app, and the
rehearsal, run here without the Functions host, ends with a green health check and a synced run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from shared.settings import check_app_settings, check_startup
from tests.conftest import ROOT

SECTION = "## Local rehearsal"


def _steps() -> list[str]:
    """The rehearsal's steps as the page lists them (its bash block that ends with `func start`)."""
    text = (ROOT / "docs" / "azure.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", 1)]
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", section, re.S) if "func start" in b]
    assert blocks, "the local rehearsal has no bash block that starts the host"
    return [line.rstrip(" &") for line in blocks[0].splitlines() if line.strip()]


def test_the_start_script_runs_the_steps_of_the_page_in_order():
    script = [line.rstrip(" &") for line in (ROOT / "scripts" / "local" / "start").read_text().splitlines()]
    positions = [script.index(step) for step in _steps()]
    assert positions == sorted(positions)


def test_steps_are_the_expected_ones():
    steps = _steps()
    assert steps[-1] == "func start"
    assert any(s.startswith("npx azurite") and "--skipApiVersionCheck" in s for s in steps)
    assert "cp -n local.settings.example.json local.settings.json" in steps
    assert steps[1] == "source .venv/bin/activate"  # func runs the Python on PATH


@pytest.mark.parametrize("prefix", [".venv/bin/hubsync", ".venv/bin/python -m hubspot_emulator"])
def test_each_documented_command_accepts_its_flags(prefix):
    [step] = [s for s in _steps() if s.startswith(prefix)]
    args = step.removeprefix(prefix).split()
    module = "shared.cli" if "hubsync" in prefix and "emulator" not in prefix else "hubspot_emulator"
    # --help after the real arguments: the parser validates every flag, then exits 0
    result = subprocess.run([sys.executable, "-m", module, *args, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for flag in [a for a in args if a.startswith("--")]:
        assert flag in result.stdout, f"{step}: {flag} is not an option"


def test_local_settings_example_starts_the_app():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert check_app_settings(values) == []
    assert check_startup(values, root=ROOT) == []  # the configuration file too, read from the app root
    assert (ROOT / values["HUBSYNC_CONFIG"]).exists()
    demo = [s for s in _steps() if "hubspot_emulator" in s][0]
    assert values["HUBSPOT_BASE_URL"].endswith(":" + demo.split("--port")[1].split()[0])
    assert values["HUBSPOT_ACCESS_TOKEN"] == demo.split("--token")[1].split()[0]


def test_the_rehearsal_without_the_host_ends_green_with_a_synced_run(clean_env, tmp_path, azurite):
    """The steps of the page, with Azurite and the emulator on free ports and the functions called
    as the host would: demo init, the local settings, health 200, the planner, the worker, a run."""
    from azure.functions import HttpRequest
    from azure.functions.queue import QueueMessage
    from azure.functions.timer import TimerRequest

    from functions.runtime import get_runtime, reset_runtime
    from hubspot_emulator import Emulator
    from tests.functions.test_function_app import _load_app

    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    [init] = [s for s in _steps() if s.startswith(".venv/bin/hubsync demo init")]
    with Emulator(token=values["HUBSPOT_ACCESS_TOKEN"]) as emulator:
        env = {**values, "AzureWebJobsStorage": azurite, "HUBSPOT_BASE_URL": emulator.base_url}
        for key, value in env.items():
            if value:
                clean_env.setenv(key, value)
        clean_env.chdir(tmp_path)  # the demo database is .hubsync/demo.db under the working directory
        args = init.removeprefix(".venv/bin/hubsync").split()
        done = subprocess.run([sys.executable, "-m", "shared.cli", *args[:-1], str(ROOT / args[-1])], cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        reset_runtime()
        functions = _load_app()
        assert set(functions) == {"health", "planner", "worker", "poison"}
        rt = get_runtime()
        rt.queue.clear()

        def health() -> tuple[int, dict]:
            response = functions["health"].get_user_function()(HttpRequest("GET", "/api/health", body=b""))
            return response.status_code, json.loads(response.get_body())

        assert health()[0] == 200
        functions["planner"].get_user_function()(TimerRequest(past_due=False))
        while rt.queue.approximate_count():
            [received] = rt.queue.receive(1, 60)
            functions["worker"].get_user_function()(QueueMessage(
                id=received.id, body=received.body.encode(), dequeue_count=received.dequeue_count))
            rt.queue.delete(received)
        status, body = health()
        assert status == 200 and body["queued"] == 0 and body["runs"][0]["status"] == "finished", body
        assert body["runs"][0]["created"] > 900 and len(emulator.calls) > 10
        reset_runtime()

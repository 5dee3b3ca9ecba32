"""The README's Core Tools steps stay true to the code: every command they run exists with the
flags they pass, and local.settings.example.json defines what the app needs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from shared.settings import check_app_settings
from tests.conftest import ROOT

SECTION = "### Run locally with Azure Functions Core Tools"


def _steps() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Core Tools section has no bash block"
    return [line.rstrip(" &") for line in block.group(1).splitlines() if line.strip()]


def test_steps_are_the_expected_ones():
    steps = _steps()
    assert steps[-1] == "func start"
    assert any(s.startswith("npx azurite") and "--skipApiVersionCheck" in s for s in steps)
    assert "cp local.settings.example.json local.settings.json" in steps


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
    assert (ROOT / values["HUBSYNC_CONFIG"]).exists()
    demo = [s for s in _steps() if "hubspot_emulator" in s][0]
    assert values["HUBSPOT_BASE_URL"].endswith(":" + demo.split("--port")[1].split()[0])
    assert values["HUBSPOT_ACCESS_TOKEN"] == demo.split("--token")[1].split()[0]

"""host.json holds the queue settings sized for HubSpot's burst limit, and .funcignore keeps the
tools and tests out of the deployment package."""

from __future__ import annotations

import fnmatch
import json
import re
from datetime import timedelta

import pytest

from . import REPO_ROOT

pytestmark = pytest.mark.infra

HOST_JSON = REPO_ROOT / "host.json"
FUNCIGNORE = REPO_ROOT / ".funcignore"
AZURE_DOC = REPO_ROOT / "docs" / "azure.md"


def timespan(value: str) -> timedelta:
    match = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})", value)
    assert match, f"{value!r} is not a hh:mm:ss TimeSpan"
    hours, minutes, seconds = map(int, match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


@pytest.fixture(scope="module")
def host() -> dict:
    return json.loads(HOST_JSON.read_text())  # plain JSON: a comment would fail here


@pytest.fixture(scope="module")
def queues(host: dict) -> dict:
    return host["extensions"]["queues"]


def test_version_and_extension_bundle(host: dict) -> None:
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"


def test_queue_messages_are_base64_and_poisoned_after_five_tries(queues: dict) -> None:
    assert queues["messageEncoding"] == "base64"  # what TextBase64EncodePolicy sends
    assert queues["maxDequeueCount"] == 5


def test_concurrency_per_instance_is_bounded_for_hubspot(host: dict, queues: dict) -> None:
    # Dynamic concurrency would ignore batchSize/newBatchThreshold altogether.
    assert host.get("concurrency", {}).get("dynamicConcurrencyEnabled", False) is False
    assert 1 <= queues["batchSize"] <= 32
    assert queues["newBatchThreshold"] >= 0
    per_instance = queues["batchSize"] + queues["newBatchThreshold"]
    # maximumInstanceCount (4) worker instances x this many messages x 1-2 calls is about HubSpot's
    # 100-190 calls per 10 s, which every instance shares; docs/azure.md ("Scale") has the arithmetic.
    assert per_instance <= 2, f"{per_instance} messages in flight per instance"


def test_queue_timings(queues: dict, host: dict) -> None:
    # A failed batch (429, 5xx) should wait out HubSpot's 10-second window before its retry.
    assert timespan(queues["visibilityTimeout"]) >= timedelta(seconds=10)
    assert timespan(queues["maxPollingInterval"]) <= timedelta(minutes=1)
    assert timedelta(minutes=1) <= timespan(host["functionTimeout"]) <= timedelta(minutes=15)


def test_errors_and_requests_are_never_sampled(host: dict) -> None:
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    excluded = {t.strip() for t in sampling["excludedTypes"].split(";")}
    assert {"Exception", "Request"} <= excluded
    assert host["logging"]["logLevel"]["Function"] in ("Information", "Debug", "Trace")


def test_every_host_json_choice_is_explained_in_docs(host: dict, queues: dict) -> None:
    doc = AZURE_DOC.read_text()
    keys = [*queues, "functionTimeout", "excludedTypes", "dynamicConcurrencyEnabled", "logLevel"]
    unexplained = [k for k in keys if f"`{k}`" not in doc]
    assert not unexplained, f"docs/azure.md does not explain {unexplained}"


def funcignore_patterns() -> list[str]:
    lines = FUNCIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    top = path.split("/")[0]
    return any(fnmatch.fnmatch(path, p.rstrip("/")) or fnmatch.fnmatch(top, p.rstrip("/")) for p in patterns)


def test_funcignore_leaves_out_tools_tests_and_local_files() -> None:
    patterns = funcignore_patterns()
    for path in ("tests/unit/test_x.py", "bench/run.py", "hubspot_emulator/app.py", ".venv/bin/python",
                 "infra/main.bicep", ".github/workflows/ci.yml", "docs/azure.md", "scripts/test",
                 ".ci/run", "local.settings.json", "local.settings.example.json", "README.md",
                 "shared/__pycache__/x.pyc", ".git/HEAD", ".tools/node_modules/azurite/package.json",
                 "hubsync.egg-info/PKG-INFO", ".hubsync/demo.db"):
        assert ignored(path, patterns), f".funcignore does not leave out {path}"
    for entry in ("tests/", "bench/", "hubspot_emulator/"):
        assert entry in patterns


def test_funcignore_keeps_what_the_app_needs() -> None:
    patterns = funcignore_patterns()
    for path in ("function_app.py", "host.json", "requirements.txt", "shared/settings.py",
                 "functions/__init__.py", "config/hubsync.yaml",
                 ".python_packages/lib/site-packages/sqlalchemy/__init__.py"):
        assert not ignored(path, patterns), f".funcignore would drop {path} from the package"

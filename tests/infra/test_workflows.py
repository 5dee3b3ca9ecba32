"""The GitHub workflows validate against GitHub's schema, pass zizmor's security audit offline,
and do what the project relies on: CI runs the README's test command, deploy uses OIDC."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import REPO_ROOT, tool

pytestmark = pytest.mark.infra

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ZIZMOR_CONFIG = REPO_ROOT / ".github" / "zizmor.yml"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
SEVERITY_RANK = {"unknown": 0, "informational": 0, "low": 1, "medium": 2, "high": 3}

BAD_SCHEMA_WORKFLOW = """\
name: broken
on: push
jobs:
  build:
    stepz:
      - run: echo no runs-on and an unknown key
"""

BAD_SECURITY_WORKFLOW = """\
name: injectable
on: issues
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
"""


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:  # YAML 1.1 reads the key `on` as a boolean
        workflow["on"] = workflow.pop(True)
    return workflow


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path))


def zizmor(*paths: Path, config: Path | None = ZIZMOR_CONFIG) -> tuple[int, list[dict]]:
    args = ["--config", str(config)] if config else ["--no-config"]
    proc = run(tool("zizmor"), "--offline", "--format", "json", *args, *map(str, paths))
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise AssertionError(f"zizmor printed no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}") from exc
    return proc.returncode, findings


def step_uses(workflow: dict) -> list[str]:
    return [s["uses"] for job in workflow["jobs"].values() for s in job.get("steps", []) if "uses" in s]


def test_both_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "deploy.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path: Path) -> None:
    proc = check_schema(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yml"
    bad.write_text(BAD_SCHEMA_WORKFLOW)
    assert check_schema(bad).returncode != 0


def test_zizmor_reports_nothing_above_informational() -> None:
    returncode, findings = zizmor(*WORKFLOW_FILES)
    serious = [
        (f["ident"], f["determinations"]["severity"], [loc["symbolic"]["key"] for loc in f["locations"]])
        for f in findings
        if SEVERITY_RANK.get(str(f["determinations"]["severity"]).lower(), 3) > 0
    ]
    assert not serious, serious
    assert returncode == 0


def test_zizmor_flags_an_injectable_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "injectable.yml"
    bad.write_text(BAD_SECURITY_WORKFLOW)
    returncode, findings = zizmor(bad, config=None)
    assert returncode != 0
    assert {"template-injection", "unpinned-uses"} & {f["ident"] for f in findings}


def test_every_action_is_pinned_by_sha_with_its_version_or_listed_as_an_exception() -> None:
    exceptions = set(yaml.safe_load(ZIZMOR_CONFIG.read_text())["rules"]["unpinned-uses"]["config"]["policies"])
    docs = (REPO_ROOT / "docs" / "azure.md").read_text()
    for path in WORKFLOW_FILES:
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
            if not match or match.group(1).startswith("./"):
                continue
            action, ref = match.group(1).split("@", 1)
            if action in exceptions:
                assert action in docs, f"{action} is not pinned by SHA and docs/azure.md does not say why"
                continue
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {action} is not pinned by commit SHA"
            assert re.search(r"#\s*v\d+(\.\d+)*", match.group(2)), f"{path.name}: {action} lacks a # vX.Y.Z"


def test_ci_runs_the_readme_test_command_and_the_sql_server_tests() -> None:
    ci = load(WORKFLOWS / "ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}

    test = ci["jobs"]["test"]
    assert test["runs-on"] == "ubuntu-latest"
    runs = [s.get("run", "") for s in test["steps"]]
    assert any(r.strip() == "bash scripts/test" for r in runs), runs
    checkout = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False
    python = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    node = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-node@"))
    assert str(node["with"]["node-version"]) == "20"

    mssql = ci["jobs"]["mssql"]
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "mcr.microsoft.com/mssql/server:2022" in text
    assert any("azure-storage/azurite" in s["image"] for s in mssql["services"].values())
    script = "\n".join(s.get("run", "") for s in mssql["steps"])
    assert "msodbcsql18" in script
    assert "HUBSYNC_TEST_MSSQL_URL=mssql+pyodbc://sa:" in script
    assert "ODBC+Driver+18+for+SQL+Server" in script and "TrustServerCertificate=yes" in script
    assert "bash scripts/setup" in script
    assert re.search(r"\.venv/bin/python -m pytest -m mssql\b", script)
    # The SA password is generated per run and masked, never written into the file.
    assert "openssl rand" in script and "::add-mask::" in script
    assert not re.search(r"MSSQL_SA_PASSWORD\s*[:=]\s*['\"]?[A-Za-z0-9!@#$%^&*]{8,}", text)


def test_deploy_logs_in_with_oidc_and_deploys_bicep_then_code() -> None:
    deploy = load(WORKFLOWS / "deploy.yml")
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "workflow_dispatch" in deploy["on"] and "push" in deploy["on"]
    assert deploy["on"]["push"].get("tags"), "pushes deploy only from tags"
    choice = deploy["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert choice["type"] == "choice" and set(choice["options"]) == {"dev", "prod"}
    assert deploy["permissions"] == {"contents": "read"}

    job = deploy["jobs"]["deploy"]
    assert job["permissions"]["id-token"] == "write"
    assert job["permissions"]["contents"] == "read"
    assert job.get("environment"), "the deploy job must run in a GitHub environment"
    assert "ci" in (job["needs"] if isinstance(job["needs"], list) else [job["needs"]])

    uses = step_uses(deploy)
    login = next(s for s in job["steps"] if s.get("uses", "").startswith("azure/login@"))
    for key in ("client-id", "tenant-id", "subscription-id"):
        assert login["with"][key].startswith("${{ vars."), f"azure/login {key} must come from vars"
    assert any(u.startswith("Azure/functions-action@") for u in uses)
    app_step = next(s for s in job["steps"] if s.get("uses", "").startswith("Azure/functions-action@"))
    assert "steps.infra.outputs.function_app_name" in app_step["with"]["app-name"]

    scripts = [s.get("run", "") for s in job["steps"]]
    joined = "\n".join(scripts)
    assert "what-if" in joined and "az deployment group create" in joined
    assert "infra/main.bicep" in joined
    assert "pip install --target .python_packages/lib/site-packages -r requirements.txt" in joined
    assert joined.index("what-if") < joined.index("az deployment group create")
    # Secrets reach scripts through env, never expanded into the script text.
    assert "${{ secrets." not in joined
    assert "secrets.HUBSPOT_ACCESS_TOKEN" in text
    for step in job["steps"]:
        if "HUBSPOT_ACCESS_TOKEN" in step.get("run", ""):
            assert step["env"]["HUBSPOT_ACCESS_TOKEN"] == "${{ secrets.HUBSPOT_ACCESS_TOKEN }}"
            assert "echo" not in "\n".join(
                line for line in step["run"].splitlines() if "HUBSPOT_ACCESS_TOKEN" in line
            )

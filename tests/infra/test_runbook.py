"""docs/azure.md is a runbook that cannot rot: every command in its shell blocks is a repository
script (`bash scripts/...`) or a line of one or of a workflow step; every script and every
workflow step parses with `bash -n`; the deploy scripts do what the page says, run against a
stand-in `az` and a local HTTP server; its SQL is what `hubsync init-db --grant-to` runs; and
every link to one of its sections, from the page or from the code, resolves."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from . import REPO_ROOT

pytestmark = pytest.mark.infra

DOC = REPO_ROOT / "docs" / "azure.md"
SCRIPTS_DIR = REPO_ROOT / "scripts"
SCRIPTS = sorted(p for p in SCRIPTS_DIR.rglob("*") if p.is_file())
RUNBOOK_SCRIPTS = sorted(p for d in ("azure", "local") for p in (SCRIPTS_DIR / d).iterdir() if p.name != "lib")
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ASSIGNMENT = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def commands(script: str) -> list[str]:
    """The commands of a shell text: continuation lines joined, comments, blank lines and pure
    assignments (the scripts' inputs) left out, a trailing '&' dropped, white space normalised."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        line = " ".join(line.split()).removesuffix(" &")
        if line and not line.startswith("#") and not ASSIGNMENT.match(line):
            found.append(line)
    return found


def run_steps() -> list[str]:
    steps = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            steps += [s["run"] for s in job.get("steps", []) if "run" in s]
    return steps


def bash_n(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30, check=False)


# --- everything parses ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(SCRIPTS_DIR)))
def test_every_script_parses(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash") or path.name == "lib", f"{path}: not a bash script"
    result = bash_n(text)
    assert result.returncode == 0, result.stderr


def test_every_workflow_step_parses() -> None:
    steps = run_steps()
    assert len(steps) > 5
    for run in steps:
        result = bash_n(re.sub(r"\$\{\{.*?\}\}", "x", run))  # GitHub expressions are replaced before bash runs
        assert result.returncode == 0, f"{result.stderr}\n{run}"


def test_bash_n_fails_on_a_broken_script() -> None:
    assert bash_n("if [ -n x ]; then\n  echo missing fi\n").returncode != 0


# --- the page's commands are the scripts' ----------------------------------------------------------


def page_commands() -> list[str]:
    return [c for block in code_blocks(DOC.read_text(), "bash") for c in commands(block)]


def test_the_page_has_the_runbook_commands() -> None:
    found = page_commands()
    for expected in ("bash scripts/azure/setup dev <owner>/<repo> westeurope", "bash scripts/azure/infra dev",
                     "bash scripts/azure/database dev", "bash scripts/azure/health dev", "bash scripts/local/start",
                     "func start"):
        assert expected in found, expected


def test_every_command_of_the_page_is_a_script_or_a_line_of_one() -> None:
    known = {c for path in SCRIPTS for c in commands(path.read_text())}
    known |= {c for run in run_steps() for c in commands(run)}
    problems = []
    for command in page_commands():
        words = command.split()
        while words and ASSIGNMENT.match(words[0]):  # VAR=value bash scripts/...
            words.pop(0)
        if words[:1] == ["bash"] and words[1].startswith("scripts/"):
            script = REPO_ROOT / words[1]
            if not script.is_file():
                problems.append(f"{command}: no {words[1]}")
            elif script.parent.name == "azure" and script.name != "config" and words[2:3] not in (["dev"], ["prod"]):
                problems.append(f"{command}: scripts/azure takes dev or prod first")
        elif command not in known:
            problems.append(f"{command}: in no script and no workflow step")
    assert problems == []


def test_a_command_in_no_script_is_found() -> None:
    known = {c for path in SCRIPTS for c in commands(path.read_text())}
    assert "az group delete --name rg-hubsync-dev" not in known
    assert "func start" in known and "bash scripts/setup" in known


@pytest.mark.parametrize("path", RUNBOOK_SCRIPTS, ids=lambda p: str(p.relative_to(SCRIPTS_DIR)))
def test_every_runbook_script_is_on_the_page_and_says_how_to_run_it(path: Path) -> None:
    name = str(path.relative_to(REPO_ROOT))
    assert f"bash {name}" in DOC.read_text(), f"docs/azure.md never runs {name}"
    assert os.access(path, os.X_OK), f"{name} is not executable"
    assert "docs/azure.md" in path.read_text() or f"bash {name}" in path.read_text()


def test_the_pages_sql_is_what_init_db_grant_to_runs() -> None:
    from sqlalchemy import create_mock_engine

    from shared.config import load_config
    from shared.readiness import grant_statements
    from shared.state import StateStore

    [block] = code_blocks(DOC.read_text(), "sql")
    engine = create_mock_engine("mssql+pyodbc://", lambda *a, **k: None)
    config = load_config(REPO_ROOT / "examples" / "sqlserver.yaml")
    rt = SimpleNamespace(engine=engine, config=config, state=StateStore(engine, config.source.state_schema))
    assert [line.removesuffix(";") for line in block.splitlines()] == grant_statements(rt, "id-hubsync-dev-abc123")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but '-' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_section_of_the_page_resolves() -> None:
    text = DOC.read_text()
    anchors = {anchor(h) for h in re.findall(r"^#{1,4} (.+)$", text, re.M)}
    linked = set(re.findall(r"\]\(#([^)]+)\)", text))
    sources = [*SCRIPTS, REPO_ROOT / "README.md", REPO_ROOT / "function_app.py",
               *(REPO_ROOT / "shared").rglob("*.py"), *(REPO_ROOT / "functions").glob("*.py"), *WORKFLOWS]
    for path in sources:
        linked |= set(re.findall(r"docs/azure\.md#([a-z0-9-]+)", path.read_text()))
    assert {"configuration", "azure-sql-access", "when-the-app-cannot-start", "local-rehearsal"} <= linked
    assert linked - anchors == set()


# --- the deploy scripts, run against a stand-in `az` ----------------------------------------------

FAKE_AZ = """#!/bin/sh
echo "$*" >> "$AZ_LOG"
case "$*" in
  *"deployment group show"*)
    case "$*" in
      *functionAppName*) echo func-hubsync-dev-abc ;;
      *functionAppUrl*) echo "$FAKE_APP_URL" ;;
      *healthUrl*) echo "$FAKE_APP_URL/api/health" ;;
      *identityName*) echo id-hubsync-dev-abc123 ;;
      *) echo value ;;
    esac ;;
  *"functionapp keys list"*"masterKey"*) echo master-key-1 ;;
  *"functionapp keys list"*) echo function-key-1 ;;
esac
"""
TOKEN = "pat-na1-00000000-1111-2222-3333-444444444444"  # noqa: S105 - made up
SOURCE_URL = "mssql+pyodbc://@srv.database.windows.net/crm?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes"


class Stub(http.server.BaseHTTPRequestHandler):
    """Answers each path with the next of its canned (status, body) answers, the last one forever."""

    answers: dict[str, list[tuple[int, dict]]] = {}
    seen: list[tuple[str, str, str | None]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("x-functions-key")))
        queue = self.answers[self.path]
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    Stub.answers, Stub.seen = {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def azure(tmp_path: Path, stub: str) -> SimpleNamespace:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ)
    (bin_dir / "az").chmod(0o755)
    log = tmp_path / "az.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AZ_LOG": str(log), "FAKE_APP_URL": stub,
           "AZURE_RESOURCE_GROUP": "rg-hubsync-dev", "PYTHON": sys.executable, "HEALTH_INTERVAL": "0",
           "HOME": str(tmp_path)}

    def run(script: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SCRIPTS_DIR / "azure" / script), *args], cwd=tmp_path, env={**env, **extra},
                              capture_output=True, text=True, timeout=120, check=False)

    return SimpleNamespace(run=run, calls=lambda: log.read_text().splitlines() if log.exists() else [], tmp=tmp_path)


def test_infra_stops_before_azure_without_the_config_file(azure: SimpleNamespace) -> None:
    result = azure.run("infra", "dev", HUBSYNC_DEPLOY_CONFIG=str(azure.tmp / "missing.yaml"), HUBSYNC_SOURCE_URL="x")
    assert result.returncode == 2
    assert "missing.yaml does not exist" in result.stderr and "examples/sqlserver.yaml" in result.stderr
    assert azure.calls() == []


def test_infra_stops_before_azure_on_an_invalid_config_file(azure: SimpleNamespace) -> None:
    bad = azure.tmp / "hubsync.yaml"
    bad.write_text("version: 1\nobjects: [\n  - {name: x\n")
    result = azure.run("infra", "dev", HUBSYNC_DEPLOY_CONFIG=str(bad), HUBSYNC_SOURCE_URL="x")
    assert result.returncode == 2 and "not valid YAML" in result.stdout + result.stderr
    assert azure.calls() == []


def test_infra_stops_before_azure_without_a_source_url(azure: SimpleNamespace) -> None:
    result = azure.run("infra", "dev", HUBSYNC_DEPLOY_CONFIG=str(REPO_ROOT / "examples" / "sqlserver.yaml"))
    assert result.returncode == 2 and "HUBSYNC_SOURCE_URL is not set" in result.stderr
    assert azure.calls() == []


def test_infra_runs_what_if_then_create_and_hands_on_the_outputs(azure: SimpleNamespace) -> None:
    outputs = azure.tmp / "github_output"
    result = azure.run("infra", "dev", HUBSYNC_DEPLOY_CONFIG=str(REPO_ROOT / "examples" / "sqlserver.yaml"),
                       HUBSYNC_SOURCE_URL=SOURCE_URL, HUBSPOT_ACCESS_TOKEN=TOKEN, GITHUB_OUTPUT=str(outputs))
    assert result.returncode == 0, result.stderr
    what_if, create, *shows = azure.calls()
    assert what_if.startswith("deployment group what-if --resource-group rg-hubsync-dev --name hubsync-dev ")
    assert create.startswith("deployment group create") and create.split(" ", 3)[3] == what_if.split(" ", 3)[3] \
        + " --output none"
    assert "--template-file infra/main.bicep --parameters @infra/main.parameters.dev.json" in create
    assert f"sourceUrl={SOURCE_URL}" in create and f"hubspotAccessToken={TOKEN}" in create
    assert all(s.startswith("deployment group show --resource-group rg-hubsync-dev --name hubsync-dev") for s in shows)
    assert "functionAppName=func-hubsync-dev-abc" in outputs.read_text()
    assert "identityName=id-hubsync-dev-abc123" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_database_runs_init_db_granting_to_the_apps_identity(azure: SimpleNamespace) -> None:
    fake_python = azure.tmp / "bin" / "python-recorder"
    fake_python.write_text('#!/bin/sh\necho "$HUBSYNC_SQL_AUTH $*" > "$AZ_LOG.python"\n')
    fake_python.chmod(0o755)
    result = azure.run("database", "dev", HUBSYNC_SOURCE_URL=SOURCE_URL, PYTHON=str(fake_python))
    assert result.returncode == 0, result.stderr
    recorded = Path(str(azure.tmp / "az.log") + ".python").read_text().split()
    assert recorded == ["managed-identity", "-m", "shared.cli", "init-db", "--config", "config/hubsync.yaml",
                        "--grant-to", "id-hubsync-dev-abc123"]


def test_database_needs_the_source_url(azure: SimpleNamespace) -> None:
    result = azure.run("database", "dev")
    assert result.returncode != 0 and "HUBSYNC_SOURCE_URL" in result.stderr


def test_a_script_refuses_an_unknown_environment(azure: SimpleNamespace) -> None:
    result = azure.run("health", "staging")
    assert result.returncode == 2 and "usage: bash" in result.stderr and "dev|prod" in result.stderr


def test_health_prints_each_problem_until_the_app_answers_200(azure: SimpleNamespace) -> None:
    problem = "HUBSPOT_ACCESS_TOKEN holds an unresolved Key Vault reference (vault 'kv1', secret 'tok'): grant ..."
    Stub.answers["/api/health"] = [(503, {"status": "misconfigured", "problems": [problem]}),
                                   (200, {"status": "ok", "problems": [], "runs": []})]
    result = azure.run("health", "dev", GITHUB_ACTIONS="true")
    assert result.returncode == 0, result.stderr
    assert "health answered 503" in result.stdout and f"  - {problem}" in result.stdout
    assert "::add-mask::function-key-1" in result.stdout
    assert [key for _, _, key in Stub.seen] == ["function-key-1", "function-key-1"]


def test_health_fails_the_deployment_when_it_never_answers_200(azure: SimpleNamespace) -> None:
    Stub.answers["/api/health"] = [(503, {"status": "not_ready", "problems": ["run `hubsync init-db`"]})]
    result = azure.run("health", "dev", HEALTH_TRIES="2")
    assert result.returncode == 1
    assert result.stdout.count("run `hubsync init-db`") == 2 and "health check failed" in result.stderr


def test_planner_runs_the_timer_function_with_the_master_key_and_waits_for_the_run(azure: SimpleNamespace) -> None:
    Stub.answers["/admin/functions/planner"] = [(202, {})]
    Stub.answers["/api/health"] = [(200, {"status": "ok", "queued": 3, "runs": [{"status": "running"}]}),
                                   (200, {"status": "ok", "queued": 0, "runs": [{"status": "finished", "created": 7}]})]
    result = azure.run("planner", "dev")
    assert result.returncode == 0, result.stderr
    assert "planner: HTTP 202" in result.stdout and '"created": 7' in result.stdout
    assert Stub.seen[0] == ("POST", "/admin/functions/planner", "master-key-1")
    assert {key for method, _, key in Stub.seen if method == "GET"} == {"function-key-1"}

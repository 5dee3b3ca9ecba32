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


PIN_LINE = re.compile(r"^\s*(?:-\s*)?uses:\s*([^@\s]+)@(\S+)(.*)$")


def action_pins(paths: list[Path] = WORKFLOW_FILES) -> list[tuple[str, str, str, str]]:
    """(file, action, ref, comment) of every `uses:` that is not a local workflow."""
    pins = []
    for path in paths:
        for line in path.read_text().splitlines():
            match = PIN_LINE.match(line)
            if match and not match.group(1).startswith("./"):
                pins.append((path.name, match.group(1), match.group(2), match.group(3)))
    return pins


def verified_pins() -> dict[tuple[str, str], str]:
    """The table in docs/azure.md, "Pinned actions": (action, version) -> commit, each checked
    against the upstream repository's tags (`git show-ref --tags`) when it was written."""
    doc = (REPO_ROOT / "docs" / "azure.md").read_text()
    section = doc[doc.index("## Pinned actions"):]
    rows = re.findall(r"^\| `([^`]+)` \| (v\d+\.\d+\.\d+) \| `([0-9a-f]{40})` \|", section, re.M)
    return {(action, version): sha for action, version, sha in rows}


def test_every_action_is_pinned_by_a_verified_release_sha() -> None:
    # No tag pin is allowed any more, not even Azure/functions-action's.
    policies = yaml.safe_load(ZIZMOR_CONFIG.read_text())["rules"]["unpinned-uses"]["config"]["policies"]
    assert set(policies.values()) == {"hash-pin"}, policies
    table = verified_pins()
    assert len(table) >= 5, "docs/azure.md lost its table of verified pins"
    pins = action_pins()
    assert any(action == "Azure/functions-action" for _, action, _, _ in pins)
    for name, action, ref, comment in pins:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{name}: {action}@{ref} is not pinned by commit SHA"
        version = re.search(r"#\s*(v\d+\.\d+\.\d+)\b", comment)
        assert version, f"{name}: {action} lacks a # vX.Y.Z comment"
        assert (action, version.group(1)) in table, f"{name}: {action} {version.group(1)} is not in docs/azure.md"
        assert table[(action, version.group(1))] == ref, (
            f"{name}: {action}@{ref} is not the commit of {version.group(1)} ({table[(action, version.group(1))]})")


def test_pin_check_catches_a_tag_and_a_sha_that_is_not_its_version(tmp_path: Path) -> None:
    table = verified_pins()
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - uses: Azure/functions-action@v1\n"
                   "      - uses: actions/checkout@a26af69be951a213d495a4c3e4e4022e16d87065 # v4.2.2\n")
    (_, _, tag, _), (_, action, sha, comment) = action_pins([bad])
    assert not re.fullmatch(r"[0-9a-f]{40}", tag)
    assert table[(action, "v4.2.2")] != sha  # setup-python's commit under checkout's version
    # and zizmor, with this repository's configuration, refuses the tag pin
    returncode, findings = zizmor(bad)
    assert returncode != 0 and "unpinned-uses" in {f["ident"] for f in findings}


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
    assert int(str(node["with"]["node-version"]).split(".")[0]) >= 22, "Azurite 3.37 needs Node 22 or later"

    mssql = ci["jobs"]["mssql"]
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "mcr.microsoft.com/mssql/server:2022" in text
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
    assert "steps.infra.outputs.functionAppName" in app_step["with"]["app-name"]

    # A step's script and the repository scripts it runs (scripts/azure/*, as docs/azure.md runs them by hand)
    scripts = [with_called_scripts(s.get("run", "")) for s in job["steps"]]
    joined = "\n".join(scripts)
    assert "what-if" in joined and "az deployment group create" in joined
    assert "infra/main.bicep" in joined
    assert "pip install --target .python_packages/lib/site-packages -r requirements.txt" in joined
    assert joined.index("what-if") < joined.index("az deployment group create")
    # Secrets reach scripts through env, never expanded into the script text.
    assert "${{ secrets." not in joined
    assert "secrets.HUBSPOT_ACCESS_TOKEN" in text
    for step, script in zip(job["steps"], scripts, strict=True):
        if "HUBSPOT_ACCESS_TOKEN" in script:
            assert step["env"]["HUBSPOT_ACCESS_TOKEN"] == "${{ secrets.HUBSPOT_ACCESS_TOKEN }}"
            assert "echo" not in "\n".join(
                line for line in script.splitlines() if "HUBSPOT_ACCESS_TOKEN" in line
            )


def with_called_scripts(run: str) -> str:
    """A step's script followed by the text of every repository script it runs with `bash scripts/...`
    (and of what those source)."""
    texts = [run]
    for path in re.findall(r"\bbash (scripts/\S+)", run):
        called = (REPO_ROOT / path).read_text()
        texts.append(called)
        texts += [(REPO_ROOT / path).with_name(name).read_text()
                  for name in re.findall(r'source "\$\(dirname "\$0"\)/(\w+)"', called)]
    return "\n".join(texts)


# --- Azurite for the Node that CI installs -----------------------------------------------------

# `engines.node` of the Azurite releases scripts/test may install (npm view azurite@X engines):
# 3.36.0 was the first to need Node 21, 3.37.0 needs 22.
AZURITE_NODE_FLOOR = {"3.35.0": 10, "3.36.0": 21, "3.37.0": 22}


def azurite_for_node(script: str, major: int) -> str:
    """The Azurite version scripts/test installs on Node ``major`` (its if/elif/else chain)."""
    rules = [(int(floor), version) for floor, version in
             re.findall(r'"\$node_major" -ge (\d+) \]; then azurite_version=([\d.]+)', script)]
    fallback = re.search(r"^else azurite_version=([\d.]+)$", script, re.M)
    assert rules and fallback, "scripts/test no longer picks the Azurite version by Node major"
    for floor, version in rules:  # first match wins, as in the script
        if major >= floor:
            return version
    return fallback.group(1)


def newest(versions: Any) -> str:
    return max(versions, key=lambda v: tuple(map(int, v.split("."))))


def test_azurite_is_pinned_for_each_node_major_and_ci_gets_the_newest() -> None:
    script = (REPO_ROOT / "scripts" / "test").read_text()
    assert not re.search(r"azurite@3\b(?!\.)", script), "a floating azurite@3 lets npm pick by the Node it finds"
    assert re.search(r'npm install [^\n]*--save-exact[^\n]*--engine-strict[^\n]*"azurite@\$azurite_version"', script)
    for major in (18, 20, 21, 22, 24):
        version = azurite_for_node(script, major)
        assert version in AZURITE_NODE_FLOOR, f"Node {major}: {version} has no known engines.node"
        assert major >= AZURITE_NODE_FLOOR[version], f"Azurite {version} does not run on Node {major}"
    node = next(s for s in load(WORKFLOWS / "ci.yml")["jobs"]["test"]["steps"]
                if s.get("uses", "").startswith("actions/setup-node@"))
    ci_major = int(str(node["with"]["node-version"]).split(".")[0])
    assert azurite_for_node(script, ci_major) == newest(AZURITE_NODE_FLOOR)


def test_azurite_rule_check_fails_on_a_wrong_pin() -> None:
    wrong = '"$node_major" -ge 20 ]; then azurite_version=3.37.0\nelse azurite_version=3.35.0\n'
    version = azurite_for_node(wrong, 20)
    assert AZURITE_NODE_FLOOR[version] > 20  # what the test above refuses
    old_ci = '"$node_major" -ge 21 ]; then azurite_version=3.36.0\nelse azurite_version=3.35.0\n'
    assert azurite_for_node(old_ci, 20) != newest(AZURITE_NODE_FLOOR)  # Node 20 in CI: an older Azurite


# --- the mssql job needs SQL Server only -------------------------------------------------------


def test_mssql_job_starts_no_azurite_and_its_tests_need_none() -> None:
    mssql = load(WORKFLOWS / "ci.yml")["jobs"]["mssql"]
    images = [s.get("image", "") for s in (mssql.get("services") or {}).values()]
    assert not any("azurite" in image for image in images), images
    assert "azurite" not in "\n".join(s.get("run", "") for s in mssql["steps"]).lower()
    # what the job runs (`pytest -m mssql`) uses SQL Server and the in-process HubSpot emulator
    marker = re.compile(r"^(pytestmark = .*pytest\.mark\.mssql\b|\s*@pytest\.mark\.mssql\b)", re.M)
    marked = [p for p in (REPO_ROOT / "tests").rglob("test_*.py") if marker.search(p.read_text())]
    assert marked and all("azurite" not in p.read_text().lower() for p in marked), marked


# --- concurrency: a deployment's CI is never cancelled -------------------------------------------


def evaluate(expression: Any, github: dict[str, Any], inputs: dict[str, Any]) -> Any:
    """A GitHub Actions expression (`${{ ... }}`) with the operators ci.yml uses: contexts,
    literals, format(), !, &&, || (which, as in GitHub, return an operand)."""
    if not isinstance(expression, str) or "${{" not in expression:
        return expression
    if not expression.strip().startswith("${{") or expression.count("${{") > 1:  # interpolation
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate("${{" + m.group(1) + "}}", github, inputs)),
                      expression)
    body = expression.strip()[3:-2]
    contexts = {"github": github, "inputs": inputs}
    python = re.sub(r"\b(github|inputs)\.([A-Za-z_][\w-]*)", lambda m: f"ctx({m.group(1)!r}, {m.group(2)!r})", body)
    python = python.replace("&&", " and ").replace("||", " or ")
    python = re.sub(r"!(?!=)", " not ", python).replace("format(", "fmt(")

    def fmt(template: str, *args: Any) -> str:
        return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), template)

    def ctx(name: str, key: str) -> Any:
        return contexts[name].get(key)

    return eval(python, {"__builtins__": {}}, {"ctx": ctx, "fmt": fmt})  # noqa: S307 - ci.yml's own expression


def ci_run(event: str, ref: str, run_id: int, called: bool) -> tuple[str, bool]:
    """(concurrency group, cancel-in-progress) of one run of ci.yml. A called workflow sees the
    caller's github context (workflow name, event, ref, run id) and the inputs it is passed."""
    ci = load(WORKFLOWS / "ci.yml")
    inputs: dict[str, Any] = {}
    if called:
        passed = next(j for j in load(WORKFLOWS / "deploy.yml")["jobs"].values()
                      if j.get("uses") == "./.github/workflows/ci.yml").get("with") or {}
        declared = (ci["on"]["workflow_call"] or {}).get("inputs") or {}
        inputs = {name: passed.get(name, spec.get("default")) for name, spec in declared.items()}
    github = {"workflow": "Deploy" if called else "CI", "event_name": event, "ref": ref, "run_id": run_id}
    group = evaluate(ci["concurrency"]["group"], github, inputs)
    cancel = evaluate(ci["concurrency"]["cancel-in-progress"], github, inputs)
    return str(group), cancel in (True, "true")


def test_a_deployments_ci_run_is_never_cancelled_and_pushes_still_supersede() -> None:
    push_1 = ci_run("push", "refs/heads/main", 1, called=False)
    push_2 = ci_run("push", "refs/heads/main", 2, called=False)
    deploy_dev = ci_run("workflow_dispatch", "refs/heads/main", 3, called=True)
    deploy_prod = ci_run("workflow_dispatch", "refs/heads/main", 4, called=True)
    tag = ci_run("push", "refs/tags/v1.0.0", 5, called=True)
    # a newer push cancels the older push's run of the same branch
    assert push_1[0] == push_2[0] and push_2[1] is True
    # a deployment's CI shares its group with nothing and cancels nothing
    groups = [push_2[0], deploy_dev[0], deploy_prod[0], tag[0]]
    assert len(set(groups)) == len(groups), groups
    assert not deploy_dev[1] and not deploy_prod[1] and not tag[1]
    # and deploy.yml's own jobs queue rather than cancel each other
    assert load(WORKFLOWS / "deploy.yml")["jobs"]["deploy"]["concurrency"]["cancel-in-progress"] is False


def test_concurrency_check_fails_on_the_old_shared_group(monkeypatch: pytest.MonkeyPatch) -> None:
    old = {"group": "ci-${{ github.workflow }}-${{ github.ref }}", "cancel-in-progress": True}
    real_load = load

    def patched(path: Path) -> dict[str, Any]:
        data = real_load(path)
        if path.name == "ci.yml":
            data["concurrency"] = old
        return data

    monkeypatch.setitem(globals(), "load", patched)
    dev = ci_run("workflow_dispatch", "refs/heads/main", 3, called=True)
    prod = ci_run("workflow_dispatch", "refs/heads/main", 4, called=True)
    assert dev[0] == prod[0] and prod[1] is True  # the second deployment would cancel the first one's CI


# --- the bicep job: az bicep build + lint with infra/bicepconfig.json --------------------------------

# Linter rule names of Bicep's bicepconfig schema (Azure/bicep, src/vscode-bicep/resources/
# configuration/bicepconfig.schema.json at 9beb0fee60ca53458f41492b699af440367b240b): a misspelt
# rule in bicepconfig.json would silently configure nothing.
BICEP_LINTER_RULES = {
    "adminusername-should-not-be-literal", "artifacts-parameters", "decompiler-cleanup",
    "explicit-values-for-loc-params", "max-asserts", "max-outputs", "max-params", "max-resources",
    "max-variables", "nested-deployment-template-scoping", "no-conflicting-metadata", "no-deployments-resources",
    "no-explicit-any", "no-hardcoded-env-urls", "no-hardcoded-location", "no-hardcoded-outputs",
    "no-loc-expr-outside-params", "no-module-name", "no-unnecessary-dependson", "no-unused-existing-resources",
    "no-unused-imports", "no-unused-params", "no-unused-types", "no-unused-vars", "outputs-should-not-contain-secrets",
    "prefer-interpolation", "prefer-unquoted-property-names", "protect-commandtoexecute-secrets",
    "secure-parameter-default", "secure-params-in-nested-deploy", "secure-params-in-parameters-file",
    "secure-secrets-in-params", "simplify-interpolation", "simplify-json-null", "stacks-extensibility-compat",
    "use-description-outputs", "use-description-params", "use-description-type-properties", "use-description-types",
    "use-description-vars", "use-parent-property", "use-recent-api-versions", "use-recent-az-powershell-version",
    "use-recent-module-versions", "use-recognized-resource-type", "use-resource-id-functions",
    "use-resource-symbol-reference", "use-safe-access", "use-secure-value-for-secure-inputs",
    "use-stable-resource-identifiers", "use-stable-vm-image", "use-user-defined-types", "what-if-short-circuiting",
}
# Bicep's core diagnostics for type problems, which only ever come as warnings on Azure resources.
BICEP_TYPE_DIAGNOSTICS = {"BCP035", "BCP036", "BCP037", "BCP073", "BCP081", "BCP083", "BCP088", "BCP089"}


def bicep_job() -> tuple[dict, dict]:
    job = load(WORKFLOWS / "ci.yml")["jobs"]["bicep"]
    step = next(s for s in job["steps"] if "az bicep lint" in s.get("run", ""))
    return job, step


def test_ci_builds_and_lints_main_bicep_with_a_pinned_bicep() -> None:
    job, step = bicep_job()
    assert job["runs-on"] == "ubuntu-latest"
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False
    assert re.fullmatch(r"v\d+\.\d+\.\d+", job["env"]["BICEP_VERSION"])
    install = "\n".join(s.get("run", "") for s in job["steps"])
    assert 'az bicep install --version "$BICEP_VERSION"' in install
    script = step["run"]
    assert re.search(r"^\s*az bicep build --file infra/main\.bicep\b", script, re.MULTILINE)
    assert re.search(r"^\s*az bicep lint --file infra/main\.bicep\b", script, re.MULTILINE)
    assert step.get("shell") == "bash" and "set -euo pipefail" in script
    assert set(step["env"]["TYPE_DIAGNOSTICS"].split("|")) >= BICEP_TYPE_DIAGNOSTICS


def test_bicepconfig_sits_beside_main_bicep_and_names_real_rules() -> None:
    config = json.loads((REPO_ROOT / "infra" / "bicepconfig.json").read_text())  # plain JSON, no comments
    core = config["analyzers"]["core"]
    assert core["enabled"] is True
    assert set(core["rules"]) <= BICEP_LINTER_RULES, sorted(set(core["rules"]) - BICEP_LINTER_RULES)
    for name, rule in core["rules"].items():
        assert rule["level"] in {"off", "info", "warning", "error"}, name
    for name in ("use-recognized-resource-type", "secure-secrets-in-params", "outputs-should-not-contain-secrets"):
        assert core["rules"][name]["level"] == "error", name


@pytest.mark.parametrize(("output", "status", "fails"), [
    ("", 0, False),
    ("/w/infra/main.bicep(3,5) : Warning no-unused-params: Parameter \"x\" is declared but never used.", 0, False),
    ("WARNING: /w/infra/app/function.bicep(68,5) : Warning BCP037: The property \"serverFarmIdd\" is not allowed", 0, True),
    ("/w/infra/app/function.bicep(56,15) : Warning BCP081: Resource type \"Microsoft.Web/sites@2099-01-01\" does not "
     "have types available.", 0, True),
    ("/w/infra/app/function.bicep(68,5) : Warning BCP089: The property \"serverFarmIdd\" is not allowed on objects "
     "of type \"SiteProperties\". Did you mean \"serverFarmId\"?", 0, True),
    ("/w/infra/main.bicep(1,1) : Error BCP007: This declaration type is not recognized.", 1, True),
], ids=["clean", "other-warning", "BCP037", "BCP081", "BCP089", "az-fails"])
def test_the_bicep_step_fails_on_type_warnings_and_errors(tmp_path: Path, output: str, status: int, fails: bool) -> None:
    """Runs the step's script with a stand-in `az` that prints what Bicep would."""
    _, step = bicep_job()
    fake = tmp_path / "bin" / "az"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$FAKE_AZ_OUTPUT" >&2\nexit "$FAKE_AZ_STATUS"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "FAKE_AZ_OUTPUT": output,
           "FAKE_AZ_STATUS": str(status), **step["env"]}
    proc = subprocess.run(["bash", "-c", step["run"]], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=env, check=False)
    assert (proc.returncode != 0) is fails, proc.stdout + proc.stderr

"""The Bicep under infra/: it parses, checkov finds nothing unjustified, and the resources hold
the properties the design relies on (identity-only storage, RBAC vault, Flex plan, roles)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from . import (
    INFRA_DIR,
    bicep_files,
    leaf_strings,
    module_env,
    modules,
    param_defaults,
    parse_bicep,
    parse_bicep_text,
    resolve,
    resources,
    run_checkov,
    variables,
)

pytestmark = pytest.mark.infra

MAIN = INFRA_DIR / "main.bicep"
APP = INFRA_DIR / "app"
CHECKOV_CONFIG = INFRA_DIR / ".checkov.yaml"

BROKEN_BICEP = """\
param name string
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  properties: {
    allowSharedKeyAccess: false
"""

VALID_BICEP = """\
param name string
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
}
"""

# Azure built-in role definition ids (identical in every tenant).
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}


def main_env(parameter_file: Path | None = None) -> dict:
    """Parameter values of main.bicep: defaults, then a parameter file, then its variables."""
    doc = parse_bicep(MAIN)
    env = param_defaults(doc)
    if parameter_file is not None:
        env.update({k: v["value"] for k, v in json.loads(parameter_file.read_text())["parameters"].items()})
    env.update({k: resolve(v, env) for k, v in variables(doc).items() if isinstance(v, str)})
    return env


def app_env(module_symbol: str, file_name: str, parameter_file: Path | None = None) -> dict:
    return module_env(parse_bicep(MAIN), main_env(parameter_file), module_symbol, parse_bicep(APP / file_name))


def only_resource(path: Path, type_: str) -> dict:
    found = [body for _, _, body in resources(parse_bicep(path), type_)]
    assert len(found) == 1, f"{path.name}: expected one {type_}, found {len(found)}"
    return found[0]


# --- parsing -------------------------------------------------------------------------------------


def test_infra_holds_the_expected_bicep_files() -> None:
    names = {p.relative_to(INFRA_DIR).as_posix() for p in bicep_files()}
    expected = {"main.bicep", "app/function.bicep", "app/storage.bicep", "app/monitoring.bicep",
                "app/keyvault.bicep", "app/rbac.bicep", "app/secret.bicep"}
    assert expected <= names, f"missing: {sorted(expected - names)}"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA_DIR).as_posix())
def test_bicep_file_parses(path: Path) -> None:
    doc = parse_bicep(path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name} declares nothing"


def test_a_broken_bicep_file_fails_to_parse(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.bicep", tmp_path / "broken.bicep"
    good.write_text(VALID_BICEP)
    bad.write_text(BROKEN_BICEP)
    assert "account" in parse_bicep_text(good.read_text())["resources"]
    with pytest.raises(Exception):  # noqa: B017 - lark raises several kinds; any of them fails the test above
        parse_bicep_text(bad.read_text())


def test_every_module_path_exists_and_every_app_file_is_used() -> None:
    used: set[Path] = set()
    for path in bicep_files():
        for symbol, module_path, _ in modules(parse_bicep(path)):
            target = (path.parent / module_path).resolve()
            assert target.is_file(), f"{path.name}: module {symbol} points at missing {module_path}"
            used.add(target)
    orphans = {p.resolve() for p in APP.glob("*.bicep")} - used
    assert not orphans, f"app modules nobody deploys: {sorted(p.name for p in orphans)}"


# --- checkov -------------------------------------------------------------------------------------


def checkov_skips() -> dict[str, str]:
    """check id -> the justification written on the same line of infra/.checkov.yaml."""
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    ids = config.get("skip-check") or []
    comments = {}
    for line in CHECKOV_CONFIG.read_text().splitlines():
        match = re.match(r"^\s*-\s*(CKV2?_[A-Z]+_\d+)\s*(?:#\s*(.*))?$", line)
        if match:
            comments[match.group(1)] = (match.group(2) or "").strip()
    assert set(ids) == set(comments), "every skip-check entry must be a plain '- CKV_...' line"
    return comments


@pytest.fixture(scope="module")
def checkov_with_skips() -> dict:
    return run_checkov(INFRA_DIR, "--config-file", str(CHECKOV_CONFIG))


@pytest.fixture(scope="module")
def checkov_without_skips(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # checkov reads a .checkov.yaml found in the scanned directory by itself: scan a copy without it.
    copy = tmp_path_factory.mktemp("infra-unskipped") / "infra"
    shutil.copytree(INFRA_DIR, copy, ignore=shutil.ignore_patterns(".checkov.yaml", ".checkov.yml"))
    return run_checkov(copy)


def test_checkov_parses_every_file_and_fails_nothing_beyond_the_skips(checkov_with_skips: dict) -> None:
    summary = checkov_with_skips["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a Bicep file (it still exits 0)"
    assert summary["resource_count"] > 0 and summary["passed"] > 0, f"checkov checked nothing: {summary}"
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in checkov_with_skips["failed_checks"]]
    assert summary["failed"] == 0 and not failed, f"checkov failures not in {CHECKOV_CONFIG.name}: {failed}"


def test_every_checkov_skip_is_justified_and_still_needed(checkov_without_skips: dict) -> None:
    skips = checkov_skips()
    for check_id, why in skips.items():
        assert len(why) >= 40, f"{check_id}: the skip needs a justification comment on its line"
    assert checkov_without_skips["summary"]["parsing_errors"] == 0
    failing = {c["check_id"] for c in checkov_without_skips["failed_checks"]}
    assert failing <= set(skips), f"unlisted failures: {sorted(failing - set(skips))}"
    assert set(skips) <= failing, f"skips no check needs any more: {sorted(set(skips) - failing)}"


def test_checkov_counts_a_broken_file_as_a_parsing_error(tmp_path: Path) -> None:
    (tmp_path / "broken.bicep").write_text(BROKEN_BICEP)
    report = run_checkov(tmp_path)
    assert report["summary"]["parsing_errors"] > 0


# --- what the resources must say -----------------------------------------------------------------


def test_storage_accepts_identities_only_over_tls12() -> None:
    props = only_resource(APP / "storage.bicep", "Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False


@pytest.mark.parametrize("parameter_file", [None, *sorted(INFRA_DIR.glob("main.parameters.*.json"))],
                         ids=lambda p: "defaults" if p is None else p.name)
def test_queues_and_poison_queue_are_created(parameter_file: Path | None) -> None:
    from shared.settings import DEFAULT_QUEUE_NAME, POISON_SUFFIX

    env = app_env("storage", "storage.bicep", parameter_file)
    doc = parse_bicep(APP / "storage.bicep")
    names = {resolve(body["name"], env)
             for _, _, body in resources(doc, "Microsoft.Storage/storageAccounts/queueServices/queues")}
    assert {DEFAULT_QUEUE_NAME, DEFAULT_QUEUE_NAME + POISON_SUFFIX} <= names


def test_deployment_container_exists_and_is_private() -> None:
    container = only_resource(APP / "storage.bicep", "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


def test_application_insights_and_workspace_refuse_local_auth() -> None:
    appi = only_resource(APP / "monitoring.bicep", "Microsoft.Insights/components")["properties"]
    assert appi["DisableLocalAuth"] is True
    assert appi["WorkspaceResourceId"], "Application Insights must be workspace-based"
    law = only_resource(APP / "monitoring.bicep", "Microsoft.OperationalInsights/workspaces")["properties"]
    assert law["features"]["disableLocalAuth"] is True


def test_key_vault_is_rbac_only_and_recoverable() -> None:
    props = only_resource(APP / "keyvault.bicep", "Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert "accessPolicies" not in props


def test_secrets_have_a_content_type_and_come_from_secure_parameters() -> None:
    doc = parse_bicep(APP / "secret.bicep")
    secret = only_resource(APP / "secret.bicep", "Microsoft.KeyVault/vaults/secrets")["properties"]
    assert secret["value"] in {n for n, p in doc["parameters"].items()
                               if any(d.get("type") == "secure" for d in p["decorators"])}
    assert secret["contentType"] == "contentType"  # the module parameter, set by every caller
    for _, path, body in modules(parse_bicep(APP / "keyvault.bicep")):
        if path.endswith("secret.bicep"):
            assert body["params"]["contentType"].startswith("text/plain"), body["params"]


def test_role_assignments_are_the_four_documented_built_in_roles() -> None:
    doc = parse_bicep(APP / "rbac.bicep")
    env = variables(doc)
    scope_types = {symbol: type_ for symbol, type_, _ in resources(doc)}
    granted = set()
    for _, _, body in resources(doc, "Microsoft.Authorization/roleAssignments"):
        props = body["properties"]
        role_function = props["roleDefinitionId"]["function"]
        assert role_function["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        role_id = resolve(role_function["parameters"]["resource_name_1"], env)
        assert props["principalType"] == "ServicePrincipal"
        granted.add((scope_types[body["scope"]], role_id))
    assert granted == {
        ("Microsoft.Storage/storageAccounts", BUILT_IN_ROLES["Storage Blob Data Owner"]),
        ("Microsoft.Storage/storageAccounts", BUILT_IN_ROLES["Storage Queue Data Contributor"]),
        ("Microsoft.KeyVault/vaults", BUILT_IN_ROLES["Key Vault Secrets User"]),
        ("Microsoft.Insights/components", BUILT_IN_ROLES["Monitoring Metrics Publisher"]),
    }


def test_function_app_runs_python_311_on_flex_consumption_with_its_identity() -> None:
    plan = only_resource(APP / "function.bicep", "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True

    site = only_resource(APP / "function.bicep", "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["keyVaultReferenceIdentity"] == "identityId"
    config = props["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert storage["authentication"]["userAssignedIdentityResourceId"] == "identityId"

    for parameter_file in [None, *sorted(INFRA_DIR.glob("main.parameters.*.json"))]:
        env = app_env("functionApp", "function.bicep", parameter_file)
        scale = {k: resolve(v, env) for k, v in config["scaleAndConcurrency"].items()}
        assert scale["instanceMemoryMB"] == 2048, parameter_file
        # Per function scale group (the worker scales alone); every instance shares one HubSpot budget,
        # so more instances only wait on it: docs/azure.md ("Scale") has the arithmetic.
        assert scale["maximumInstanceCount"] == 4, parameter_file


def test_the_instance_bound_accepts_what_flex_consumption_accepts() -> None:
    # Flex Consumption's lowest maximumInstanceCount is 1, the highest 1000 (docs/azure.md, "Scale").
    decorators = {d["type"]: d.get("argument") for d in parse_bicep(MAIN)["parameters"]["maximumInstanceCount"]
                  ["decorators"]}
    assert (decorators.get("min_value"), decorators.get("max_value")) == (1, 1000)


def test_main_outputs_name_url_health_and_identity() -> None:
    outputs = parse_bicep(MAIN)["outputs"]
    for name in ("functionAppName", "defaultHostName", "functionAppUrl", "healthUrl", "identityName",
                 "identityClientId"):
        assert name in outputs, f"main.bicep lacks output {name}"
    assert outputs["healthUrl"]["value"].startswith("https://")
    assert outputs["healthUrl"]["value"].endswith("/api/health")
    # the database user is made for this name: CREATE USER [<identityName>] FROM EXTERNAL PROVIDER
    assert outputs["identityName"]["value"]["operator"]["operands"] == {"operand_1": "identity", "operand_2": "name"}


def test_parameter_files_match_main_bicep() -> None:
    doc = parse_bicep(MAIN)
    declared = doc["parameters"]
    required = {name for name, p in declared.items() if p.get("default") is None}
    files = sorted(INFRA_DIR.glob("main.parameters.*.json"))
    assert {p.name for p in files} >= {"main.parameters.dev.json", "main.parameters.prod.json"}
    for path in files:
        values = {k: v["value"] for k, v in json.loads(path.read_text())["parameters"].items()}
        assert set(values) <= set(declared), f"{path.name}: unknown {sorted(set(values) - set(declared))}"
        secure = {n for n, p in declared.items() if any(d.get("type") == "secure" for d in p["decorators"])}
        assert not set(values) & secure, f"{path.name} must not hold secrets: {sorted(set(values) & secure)}"
        assert required <= set(values), f"{path.name}: missing {sorted(required - set(values))}"
        for name, value in values.items():
            for decorator in declared[name]["decorators"]:
                if decorator.get("type") == "allowed":
                    assert value in decorator["argument"], f"{path.name}: {name}={value!r} not allowed"
                if decorator.get("type") == "min_value":
                    assert value >= decorator["argument"], f"{path.name}: {name} below its minimum"


def test_secure_parameters_only_reach_key_vault() -> None:
    """A @secure() value may flow only main -> keyvault.bicep -> secret.bicep, never elsewhere."""
    allowed_path = {MAIN: "keyvault.bicep", APP / "keyvault.bicep": "secret.bicep"}
    for path in bicep_files():
        doc = parse_bicep(path)
        secure = {n for n, p in (doc.get("parameters") or {}).items()
                  if any(d.get("type") == "secure" for d in p["decorators"])}
        if not secure:
            continue
        for symbol, module_path, body in modules(doc):
            used = secure & set(leaf_strings(body.get("params")))
            if used:
                assert module_path.endswith(allowed_path.get(path, "<none>")), (
                    f"{path.name}: secure {sorted(used)} passed to module {symbol} ({module_path})")
        for symbol, _, body in resources(doc):
            if body.get("properties", {}).get("value") in secure:
                assert path.name == "secret.bicep", f"{path.name}: {symbol} stores a secure parameter"
        outputs = doc.get("outputs") or {}
        for name, out in outputs.items():
            assert not secure & set(leaf_strings(out["value"])), f"{path.name}: output {name} leaks a secret"


def test_saved_queries_are_all_in_the_workbook_and_cover_the_events() -> None:
    monitoring = (APP / "monitoring.bicep").read_text()
    loaded = set(re.findall(r"loadTextContent\('\.\./queries/([^']+)'\)", monitoring))
    on_disk = {p.name for p in (INFRA_DIR / "queries").glob("*.kql")}
    assert on_disk and loaded == on_disk, f"on disk {sorted(on_disk)}, in the workbook {sorted(loaded)}"
    text = "\n".join((INFRA_DIR / "queries" / name).read_text() for name in on_disk)
    for event in ("batch_done", "run_done", "record_rejected", "rate_limited"):
        assert f'"{event}"' in text, f"no saved query reads customDimensions.event == {event!r}"
    for dimension in ("run_id", "object", "batch_id", "created", "updated", "unchanged", "rejected",
                      "failed", "api_calls"):
        assert f"customDimensions.{dimension}" in text, f"no saved query reads {dimension}"
    assert "429" in text

"""Every setting the code reads (shared.settings.APP_SETTINGS) is defined in the Bicep and in
local.settings.example.json, with identities and Key Vault references instead of secrets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from . import (
    INFRA_DIR,
    REPO_ROOT,
    leaf_strings,
    parse_bicep,
    resolve,
    secure_params,
    site_app_settings,
    variables,
)

pytestmark = pytest.mark.infra

FUNCTION_BICEP = INFRA_DIR / "app" / "function.bicep"
LOCAL_SETTINGS = REPO_ROOT / "local.settings.example.json"

# What a secret looks like when someone pastes one into a template or a settings file.
SECRET_PATTERNS = [
    re.compile(r"AccountKey=", re.I),
    re.compile(r"SharedAccessSignature=|[?&]sig=", re.I),
    re.compile(r"\b(password|pwd)\s*=", re.I),
    re.compile(r"://[^/@\s:]+:[^/@\s]+@"),  # user:password@host in a URL
    re.compile(r"\bpat-[a-z0-9]{2,}-[0-9a-f-]{8,}", re.I),  # HubSpot private-app token
]

# Flex Consumption refuses these: the runtime and package come from functionAppConfig.
FLEX_REJECTED = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
}


@pytest.fixture(scope="module")
def app_settings() -> dict[str, str]:
    from shared.settings import APP_SETTINGS

    assert APP_SETTINGS, "shared.settings.APP_SETTINGS is empty"
    return APP_SETTINGS


@pytest.fixture(scope="module")
def bicep_settings() -> dict[str, Any]:
    settings = site_app_settings(parse_bicep(FUNCTION_BICEP))
    assert settings, "function.bicep declares no app settings"
    return settings


@pytest.fixture(scope="module")
def local_values() -> dict[str, str]:
    return json.loads(LOCAL_SETTINGS.read_text())["Values"]


def test_every_app_setting_is_defined_in_bicep(app_settings: dict, bicep_settings: dict) -> None:
    missing = sorted(set(app_settings) - set(bicep_settings))
    assert not missing, f"in shared.settings.APP_SETTINGS but not in {FUNCTION_BICEP.name}: {missing}"


def test_every_app_setting_is_in_the_local_settings_example(app_settings: dict, local_values: dict) -> None:
    missing = sorted(set(app_settings) - set(local_values))
    assert not missing, f"in shared.settings.APP_SETTINGS but not in {LOCAL_SETTINGS.name}: {missing}"


def test_hubspot_token_is_a_key_vault_reference(bicep_settings: dict) -> None:
    doc = parse_bicep(FUNCTION_BICEP)
    value = resolve(bicep_settings["HUBSPOT_ACCESS_TOKEN"], variables(doc))
    assert isinstance(value, str) and value.startswith("@Microsoft.KeyVault(SecretUri="), value
    assert value.endswith(")") and "secrets/" in value


def test_source_url_is_a_key_vault_reference_or_a_plain_parameter(bicep_settings: dict) -> None:
    doc = parse_bicep(FUNCTION_BICEP)
    names = set(leaf_strings(bicep_settings["HUBSYNC_SOURCE_URL"]))
    refs = {resolve(n, variables(doc)) for n in names if n in variables(doc)}
    assert any(r.startswith("@Microsoft.KeyVault(SecretUri=") for r in refs), names
    assert not names & secure_params(doc)


def test_no_app_setting_in_bicep_carries_a_secret(bicep_settings: dict) -> None:
    doc = parse_bicep(FUNCTION_BICEP)
    secure, env = secure_params(doc), variables(doc)
    for name, expression in bicep_settings.items():
        for leaf in leaf_strings(expression):
            assert leaf not in secure, f"{name} is set from @secure() parameter {leaf}: use Key Vault"
            text = str(resolve(leaf, env))
            for pattern in SECRET_PATTERNS:
                assert not pattern.search(text), f"{name} looks like a literal secret ({pattern.pattern})"
    assert "AzureWebJobsStorage" not in bicep_settings, "host storage must use identity settings only"


def test_host_storage_and_telemetry_use_the_identity(bicep_settings: dict) -> None:
    assert bicep_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for suffix in ("clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{suffix}" in bicep_settings
    assert bicep_settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert bicep_settings["AZURE_CLIENT_ID"] == "identityClientId"
    auth = bicep_settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert auth == "ClientId=${identityClientId};Authorization=AAD"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in bicep_settings


def test_no_setting_flex_consumption_rejects(bicep_settings: dict) -> None:
    assert not FLEX_REJECTED & set(bicep_settings), sorted(FLEX_REJECTED & set(bicep_settings))


def test_bicep_defaults_match_the_code() -> None:
    from shared.settings import DEFAULT_QUEUE_NAME

    params = parse_bicep(INFRA_DIR / "main.bicep")["parameters"]
    assert params["queueName"]["default"] == DEFAULT_QUEUE_NAME
    assert len(params["schedule"]["default"].split()) == 6, "NCRONTAB has six fields"
    assert params["sqlAuth"]["default"] in ("managed-identity", "sql")


def test_local_settings_example_runs_against_the_local_services(local_values: dict) -> None:
    from shared.settings import DEFAULT_QUEUE_NAME, Settings

    document = json.loads(LOCAL_SETTINGS.read_text())
    assert document["IsEncrypted"] is False
    assert local_values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert local_values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert local_values["HUBSPOT_BASE_URL"] == "http://127.0.0.1:8090"
    assert local_values["HUBSPOT_ACCESS_TOKEN"] == "demo-token"
    assert local_values["HUBSYNC_QUEUE_NAME"] == DEFAULT_QUEUE_NAME
    assert len(local_values["HUBSYNC_SCHEDULE"].split()) == 6, "NCRONTAB has six fields"
    assert all(isinstance(v, str) for v in local_values.values()), "Values must all be strings"
    settings = Settings.from_env(local_values)  # the code's own validation
    assert settings.queue_name == DEFAULT_QUEUE_NAME
    assert settings.hubspot_base_url == "http://127.0.0.1:8090"

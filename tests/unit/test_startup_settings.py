"""shared/settings.py: the one settings model, its startup checks and its precedence rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import (
    APP_SETTINGS,
    DEFAULT_QUEUE_NAME,
    DEFAULT_SCHEDULE,
    MAX_QUEUE_NAME_LENGTH,
    Settings,
    check_app_settings,
    check_startup,
    require_app_settings,
    validate_queue_name,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"  # noqa: S105 - a made-up token
ACCOUNT_KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHM="


def full_env(**overrides: str) -> dict[str, str]:
    env = {
        "HUBSYNC_CONFIG": "examples/sqlserver.yaml",
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSYNC_SOURCE_URL": "postgresql+psycopg://hubsync:pw@db.example.com/crm",
        "HUBSYNC_SCHEDULE": "0 */15 * * * *",
        "HUBSYNC_QUEUE_NAME": "hubsync-batches",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    }
    env.update(overrides)
    return env


def test_full_valid_env_has_no_problems() -> None:
    assert check_app_settings(full_env()) == []
    require_app_settings(full_env())  # does not raise


def test_identity_based_storage_is_enough() -> None:
    env = full_env()
    del env["AzureWebJobsStorage"]
    env["AzureWebJobsStorage__queueServiceUri"] = "https://acct.queue.core.windows.net"
    assert check_app_settings(env) == []


def test_missing_token_is_named() -> None:
    env = full_env()
    del env["HUBSPOT_ACCESS_TOKEN"]
    problems = check_app_settings(env)
    assert len(problems) == 1
    assert problems[0].startswith("app setting HUBSPOT_ACCESS_TOKEN is missing")
    assert "misspelt" not in problems[0]


def test_blank_required_setting_counts_as_missing() -> None:
    problems = check_app_settings(full_env(HUBSPOT_ACCESS_TOKEN="   "))
    assert [p.split(" is missing")[0] for p in problems] == ["app setting HUBSPOT_ACCESS_TOKEN"]


def test_every_required_setting_is_checked() -> None:
    problems = check_app_settings({})
    required = [name for name, (req, _) in APP_SETTINGS.items() if req]
    for name in required:
        assert any(p.startswith(f"app setting {name} is missing") for p in problems), name
    assert any("AzureWebJobsStorage" in p for p in problems)
    assert len(problems) == len(required) + 1


def test_misspelt_setting_gets_a_hint() -> None:
    env = full_env()
    env["HUBSYNC_QUEUE_NAM"] = env.pop("HUBSYNC_QUEUE_NAME")
    problems = check_app_settings(env)
    assert len(problems) == 1
    assert problems[0].startswith("app setting HUBSYNC_QUEUE_NAME is missing (found 'HUBSYNC_QUEUE_NAM': misspelt?)")


def test_queue_name_of_57_characters_mentions_56() -> None:
    problems = check_app_settings(full_env(HUBSYNC_QUEUE_NAME="q" * 57))
    assert len(problems) == 1
    assert "HUBSYNC_QUEUE_NAME" in problems[0]
    assert "57 characters" in problems[0]
    assert "56" in problems[0]
    assert "-poison" in problems[0]


def test_bad_schedule_is_a_problem() -> None:
    problems = check_app_settings(full_env(HUBSYNC_SCHEDULE="*/15 * * * *"))
    assert len(problems) == 1
    assert problems[0].startswith("HUBSYNC_SCHEDULE: ")


def test_require_app_settings_lists_every_problem() -> None:
    env = full_env(HUBSYNC_SCHEDULE="bad", HUBSYNC_QUEUE_NAME="Bad_Name")
    del env["HUBSYNC_CONFIG"]
    with pytest.raises(ConfigurationError) as info:
        require_app_settings(env)
    assert len(info.value.problems) == 3
    assert str(info.value).startswith("hubsync cannot start:")


# -- queue names --


@pytest.mark.parametrize("name", ["abc", "hubsync-batches", "q1-2-3", "a" * MAX_QUEUE_NAME_LENGTH])
def test_valid_queue_names(name: str) -> None:
    assert validate_queue_name(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 57, "Hubsync", "hub--sync", "-hubsync", "hubsync-", "hub_sync"])
def test_invalid_queue_names(name: str) -> None:
    with pytest.raises(ConfigurationError, match="^HUBSYNC_QUEUE_NAME: queue name"):
        validate_queue_name(name)


def test_poison_queue_of_the_longest_name_is_still_valid() -> None:
    settings = Settings(queue_name="a" * MAX_QUEUE_NAME_LENGTH)
    assert len(settings.poison_queue_name) == 63


# -- Settings.from_env --


def test_from_env_reads_everything() -> None:
    env = full_env(HUBSYNC_SQL_AUTH="managed-identity", AZURE_CLIENT_ID="cid", HUBSPOT_BASE_URL=" http://localhost:8080 ")
    env["AzureWebJobsStorage__queueServiceUri"] = "https://acct.queue.core.windows.net"
    settings = Settings.from_env(env)

    assert settings.config_path == "examples/sqlserver.yaml"
    assert settings.hubspot_token is not None
    assert settings.hubspot_token.get_secret_value() == TOKEN
    assert settings.source_url is not None
    assert settings.source_url.get_secret_value().startswith("postgresql+psycopg://")
    assert settings.sql_auth == "managed-identity"
    assert settings.hubspot_base_url == "http://localhost:8080"
    assert settings.azure_client_id == "cid"
    assert settings.poison_queue_name == "hubsync-batches-poison"
    assert set(settings.storage) == {"AzureWebJobsStorage", "AzureWebJobsStorage__queueServiceUri"}


def test_from_env_defaults() -> None:
    settings = Settings.from_env({"HUBSYNC_SCHEDULE": "  "})
    assert settings.hubspot_token is None
    assert settings.schedule == DEFAULT_SCHEDULE
    assert settings.queue_name == DEFAULT_QUEUE_NAME
    assert settings.storage == {}


def test_token_and_source_password_are_not_in_repr() -> None:
    settings = Settings.from_env(full_env())
    text = repr(settings) + str(settings)
    assert TOKEN not in text
    assert "hubsync:pw@" not in text
    assert "**********" in text


def test_storage_account_key_is_not_in_repr() -> None:
    conn = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"
    settings = Settings.from_env(full_env(AzureWebJobsStorage=conn))
    assert ACCOUNT_KEY not in repr(settings)


@pytest.mark.parametrize("value", ["Managed-Identity", "msi", "password"])
def test_invalid_sql_auth(value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(full_env(HUBSYNC_SQL_AUTH=value))
    assert str(info.value) == f"HUBSYNC_SQL_AUTH: {value!r} is not one of 'managed-identity', 'sql'"


def test_sql_auth_sql_is_accepted() -> None:
    assert Settings.from_env(full_env(HUBSYNC_SQL_AUTH="sql")).sql_auth == "sql"


def test_from_env_validates_the_queue_name() -> None:
    with pytest.raises(ConfigurationError, match="HUBSYNC_QUEUE_NAME"):
        Settings.from_env(full_env(HUBSYNC_QUEUE_NAME="q" * 57))


def test_a_sql_server_source_without_its_odbc_driver_is_named_with_the_installed_drivers() -> None:
    import pyodbc

    env = {
        "HUBSYNC_CONFIG": "c.yaml", "HUBSPOT_ACCESS_TOKEN": "t", "HUBSYNC_SCHEDULE": "0 */5 * * * *",
        "HUBSYNC_QUEUE_NAME": "hubsync-batches", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "HUBSYNC_SOURCE_URL": "mssql+pyodbc://@server.database.windows.net/crm",
    }
    problems = check_app_settings(env)
    if any("SQL Server" in d for d in pyodbc.drivers()):
        assert problems == []  # a machine with msodbcsql (the GitHub mssql job)
    else:
        assert len(problems) == 1
        assert "no SQL Server ODBC driver is installed" in problems[0]
        assert f"pyodbc.drivers() = {pyodbc.drivers()}" in problems[0]


# -- one model --


def test_app_settings_list_is_the_model() -> None:
    from shared.settings import Settings as Model

    aliases = {f.validation_alias for f in Model.model_fields.values()}
    assert set(APP_SETTINGS) <= aliases
    # the host's storage settings are read but are not app settings: Bicep gives identity-based ones
    assert aliases - set(APP_SETTINGS) == {
        "AzureWebJobsStorage", "AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__clientId"}
    assert {name for name, (required, _) in APP_SETTINGS.items() if required} == {
        "HUBSYNC_CONFIG", "HUBSPOT_ACCESS_TOKEN", "HUBSYNC_SCHEDULE", "HUBSYNC_QUEUE_NAME"}


def test_a_given_mapping_is_read_instead_of_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_BASE_URL", "http://from-the-process:1")
    assert Settings.from_env({}).hubspot_base_url is None
    assert Settings.from_env().hubspot_base_url == "http://from-the-process:1"


def test_every_bad_setting_is_listed_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(full_env(HUBSYNC_SQL_AUTH="msi", HUBSYNC_QUEUE_NAME="Bad_Name", HUBSYNC_SCHEDULE="* * *"))
    assert [p.split(":")[0] for p in info.value.problems] == ["HUBSYNC_SQL_AUTH", "HUBSYNC_SCHEDULE", "HUBSYNC_QUEUE_NAME"]


def test_precedence_environment_over_configuration() -> None:
    from shared.config import parse_config

    config = parse_config({"source": {"url": "sqlite:///from-yaml.db"}, "hubspot": {"mode": "emulator"},
                           "objects": [{"name": "c", "object_type": "contacts", "table": "t", "key": ["id"],
                                        "watermark": {"column": "v", "kind": "integer"}, "id_property": "email",
                                        "fields": {"email": {"column": "email"}}}]})
    assert Settings.from_env({}).source_url_for(config) == "sqlite:///from-yaml.db"
    assert Settings.from_env({"HUBSYNC_SOURCE_URL": "sqlite:///env.db"}).source_url_for(config) == "sqlite:///env.db"
    assert Settings.from_env({}).token_for(config).get_secret_value() == "demo-token"  # the emulator's own
    assert Settings.from_env({"HUBSPOT_ACCESS_TOKEN": TOKEN}).token_for(config).get_secret_value() == TOKEN
    assert not Settings.from_env({}).uses_storage_queues(config)
    assert Settings.from_env({}).uses_storage_queues(config, in_functions=True)


# -- Key Vault references App Service could not resolve --

KV_URI = "https://kv-hubsync-prod-1a2b3c.vault.azure.net/secrets/hubspot-access-token/0123456789abcdef"


@pytest.mark.parametrize(("value", "vault", "secret"), [
    (f"@Microsoft.KeyVault(SecretUri={KV_URI})", "kv-hubsync-prod-1a2b3c", "hubspot-access-token"),
    ("@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/tok/)", "kv1", "tok"),
    ("@Microsoft.KeyVault(VaultName=kv2;SecretName=src-url;SecretVersion=abc)", "kv2", "src-url"),
    (" @Microsoft.KeyVault(VaultName=kv3; SecretName=x) ", "kv3", "x"),
])
def test_an_unresolved_key_vault_reference_names_the_setting_vault_secret_and_fix(value: str, vault: str,
                                                                                   secret: str) -> None:
    problems = check_app_settings(full_env(HUBSPOT_ACCESS_TOKEN=value))
    assert len(problems) == 1
    [problem] = problems
    assert problem.startswith("HUBSPOT_ACCESS_TOKEN holds an unresolved Key Vault reference")
    assert f"'Key Vault Secrets User' on vault {vault!r}" in problem
    assert f"az keyvault secret show --vault-name {vault} --name {secret}" in problem
    assert "restart the app" in problem


def test_an_unresolved_reference_is_never_a_value() -> None:
    with pytest.raises(ConfigurationError, match="^HUBSYNC_SOURCE_URL holds an unresolved Key Vault reference"):
        Settings.from_env(full_env(HUBSYNC_SOURCE_URL="@Microsoft.KeyVault(VaultName=kv;SecretName=url)"))
    # a token that merely starts with '@' is a token
    assert Settings.from_env(full_env(HUBSPOT_ACCESS_TOKEN="@not-a-reference")).hubspot_token is not None


# -- check_startup: the settings, then the configuration file they name --


def startup_env(tmp_path: Path, config_text: str | None = "demo", **overrides: str) -> dict[str, str]:
    if config_text == "demo":
        config_text = (ROOT / "examples" / "demo.yaml").read_text()
    if config_text is not None:
        (tmp_path / "hubsync.yaml").write_text(config_text)
    return full_env(HUBSYNC_CONFIG="hubsync.yaml", **overrides)


def test_startup_is_fine_with_a_config_read_from_the_root(tmp_path: Path) -> None:
    assert check_startup(startup_env(tmp_path), root=tmp_path) == []


def test_a_missing_config_file_names_the_setting_the_path_and_the_fix(tmp_path: Path) -> None:
    [problem] = check_startup(startup_env(tmp_path, config_text=None), root=tmp_path)
    assert problem.startswith("HUBSYNC_CONFIG: configuration file")
    assert str(tmp_path / "hubsync.yaml") in problem and "does not exist" in problem
    assert "docs/azure.md#configuration" in problem and "hubsync validate --offline" in problem


def test_an_unparsable_config_file_names_the_line(tmp_path: Path) -> None:
    [problem] = check_startup(startup_env(tmp_path, config_text="version: 1\nobjects: [\n  - {a: 1\n"), root=tmp_path)
    assert problem.startswith("HUBSYNC_CONFIG: ") and "not valid YAML at line" in problem


def test_each_config_problem_is_listed_with_the_file(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "demo.yaml").read_text().replace("transform: [trim, email]", "transform: [trim, emial]")
    problems = check_startup(startup_env(tmp_path, config_text=text), root=tmp_path)
    assert problems and all(p.startswith("HUBSYNC_CONFIG: hubsync.yaml: ") for p in problems), problems
    assert any("emial" in p for p in problems)


def test_settings_and_config_problems_are_listed_together(tmp_path: Path) -> None:
    problems = check_startup(startup_env(tmp_path, config_text=None, HUBSYNC_QUEUE_NAME="q" * 57), root=tmp_path)
    assert [p.split(":")[0] for p in problems] == ["HUBSYNC_QUEUE_NAME", "HUBSYNC_CONFIG"]


def test_a_config_without_a_source_needs_the_source_url_setting(tmp_path: Path) -> None:
    env = startup_env(tmp_path, config_text=(ROOT / "examples" / "sqlserver.yaml").read_text())
    del env["HUBSYNC_SOURCE_URL"]
    [problem] = check_startup(env, root=tmp_path)
    assert "HUBSYNC_SOURCE_URL" in problem and "no source database" in problem

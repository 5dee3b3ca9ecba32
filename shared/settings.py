"""The app settings: one pydantic-settings model that is the list of every setting hubsync
reads from the environment, their validation, and the rules of precedence between them and
the YAML configuration.

The Function App checks them at startup (``check_startup``: the settings, Key Vault references
App Service left unresolved, the configuration file), the CLI and the Functions build their
runtime from them (``Settings.from_env``), and the test suite checks that every app setting is
defined in the Bicep and in ``local.settings.example.json`` (``APP_SETTINGS``).

Secrets (the HubSpot token, a source URL carrying a password, a storage connection string)
are ``SecretStr``: never in a ``repr``, a log line or an exception message. The YAML
configuration never holds a secret.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from shared.config import SyncConfig, load_config
from shared.errors import ConfigurationError
from shared.schedule import validate_schedule

DEFAULT_QUEUE_NAME = "hubsync-batches"
POISON_SUFFIX = "-poison"
# Storage queue names are 3-63 characters; the host appends "-poison" (7) for poison messages.
MAX_QUEUE_NAME_LENGTH = 56
DEFAULT_SCHEDULE = "0 */15 * * * *"
EMULATOR_TOKEN = "demo-token"  # noqa: S105 - the local emulator's token, not a secret
SQL_AUTH_CHOICES = ("managed-identity", "sql")

_QUEUE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
# What App Service leaves in a setting when it cannot resolve a Key Vault reference.
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
_SECRET_URI_RE = re.compile(r"https://(?P<vault>[^./]+)\.vault\.[^/]+/secrets/(?P<secret>[^/)\s]+)", re.I)
_VAULT_PART_RE = re.compile(r"(?P<name>VaultName|SecretName)\s*=\s*(?P<value>[^;)\s]+)", re.I)


def unresolved_key_vault_reference(setting: str, value: str) -> str | None:
    """The problem, naming the setting, vault and secret, when ``value`` is a Key Vault reference
    App Service could not resolve (it then passes the reference text on as the value)."""
    if not value.strip().startswith(KEY_VAULT_REFERENCE):
        return None
    uri = _SECRET_URI_RE.search(value)
    parts = {m.group("name").lower(): m.group("value") for m in _VAULT_PART_RE.finditer(value)}
    vault = uri.group("vault") if uri else parts.get("vaultname", "<vault>")
    secret = uri.group("secret") if uri else parts.get("secretname", "<secret>")
    return (f"{setting} holds an unresolved Key Vault reference (vault {vault!r}, secret {secret!r}): grant the "
            f"app's identity 'Key Vault Secrets User' on vault {vault!r} (keyVaultReferenceIdentity must be that "
            f"identity), check the secret exists (az keyvault secret show --vault-name {vault} --name {secret}) "
            f"and the reference's URI, then restart the app")


def validate_queue_name(name: str, setting: str = "HUBSYNC_QUEUE_NAME") -> str:
    """Return ``name`` if it is a valid base queue name that still leaves room for '-poison'."""
    if not 3 <= len(name) <= MAX_QUEUE_NAME_LENGTH:
        raise ConfigurationError(
            f"{setting}: queue name {name!r} has {len(name)} characters; it must have 3 to "
            f"{MAX_QUEUE_NAME_LENGTH} so that '{name}{POISON_SUFFIX}' is still a valid queue name"
        )
    if not _QUEUE_NAME_RE.match(name):
        raise ConfigurationError(
            f"{setting}: queue name {name!r} may hold only lowercase letters, digits and single hyphens"
        )
    return name


def _setting(name: str, description: str, *, required: bool = False, app_setting: bool = True,
             default: Any = None) -> Any:
    """A field read from the environment variable ``name``; ``required``: the Function App
    refuses to start without it; ``app_setting``: it must be defined in the Bicep and in
    local.settings.example.json (the host's storage settings are not: Bicep uses identities)."""
    return Field(default, validation_alias=name, description=description,
                 json_schema_extra={"required_in_azure": required, "app_setting": app_setting})


class Settings(BaseSettings):
    """Every setting hubsync reads from the environment, validated once."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True, populate_by_name=True)

    config_path: str | None = _setting(
        "HUBSYNC_CONFIG", "Path of the YAML sync configuration (relative to the app root).", required=True)
    hubspot_token: SecretStr | None = _setting(
        "HUBSPOT_ACCESS_TOKEN", "HubSpot private-app token (a Key Vault reference in Azure).", required=True)
    source_url: SecretStr | None = _setting(
        "HUBSYNC_SOURCE_URL", "SQLAlchemy URL of the source database; overrides source.url.")
    sql_auth: str | None = _setting(
        "HUBSYNC_SQL_AUTH", "'managed-identity' to sign in to Azure SQL with the app's identity.")
    hubspot_base_url: str | None = _setting("HUBSPOT_BASE_URL", "Another HubSpot host (the emulator, a proxy).")
    schedule: str = _setting(
        "HUBSYNC_SCHEDULE", "NCRONTAB (six fields) for the timer planner.", required=True, default=DEFAULT_SCHEDULE)
    queue_name: str = _setting(
        "HUBSYNC_QUEUE_NAME", "Storage queue of batch messages (<= 56 characters).", required=True,
        default=DEFAULT_QUEUE_NAME)
    azure_client_id: str | None = _setting("AZURE_CLIENT_ID", "Client id of the user-assigned managed identity.")
    storage_connection: SecretStr | None = _setting(
        "AzureWebJobsStorage", "Storage connection string (UseDevelopmentStorage=true for Azurite).",
        app_setting=False)
    storage_queue_uri: str | None = _setting(
        "AzureWebJobsStorage__queueServiceUri", "Queue endpoint, signed in with the managed identity.",
        app_setting=False)
    storage_blob_uri: str | None = _setting(
        "AzureWebJobsStorage__blobServiceUri", "Blob endpoint (the shared HubSpot rate window), signed in with the "
        "managed identity.", app_setting=False)
    storage_client_id: str | None = _setting(
        "AzureWebJobsStorage__clientId", "Identity the host uses for storage.", app_setting=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any, env_settings: Any,
                                   dotenv_settings: Any, file_secret_settings: Any) -> tuple[Any, ...]:
        return (init_settings,)  # from_env decides which environment: the process's, or a test's mapping

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any, info: Any) -> Any:
        """A blank setting counts as unset (App Service keeps empty settings); an unresolved Key
        Vault reference is never taken for a value (every HubSpot call would get a 401)."""
        if isinstance(value, str):
            problem = unresolved_key_vault_reference(cls.model_fields[info.field_name].validation_alias, value)
            if problem:
                raise ValueError(problem)
            value = value.strip() or None
        if value is None:
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("sql_auth")
    @classmethod
    def _check_sql_auth(cls, value: str | None) -> str | None:
        if value is not None and value not in SQL_AUTH_CHOICES:
            raise ValueError(f"HUBSYNC_SQL_AUTH: {value!r} is not one of 'managed-identity', 'sql'")
        return value

    @field_validator("hubspot_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            from urllib.parse import urlsplit

            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"HUBSPOT_BASE_URL: {value!r} is not an http(s) URL (e.g. http://127.0.0.1:8090)")
        return value

    @field_validator("queue_name", "schedule")
    @classmethod
    def _check_format(cls, value: str, info: Any) -> str:
        check = validate_queue_name if info.field_name == "queue_name" else validate_schedule
        try:
            return check(value)
        except ConfigurationError as err:
            raise ValueError(str(err)) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; ``env`` defaults to the process environment."""
        source = EnvSettingsSource(cls, case_sensitive=True)
        if env is not None:
            source.env_vars = dict(env)
        try:
            return cls(**source())
        except ValidationError as err:
            problems = setting_problems(err)
            raise ConfigurationError("; ".join(problems), problems) from None

    # -- derived values and precedence (one place) --

    @property
    def poison_queue_name(self) -> str:
        return self.queue_name + POISON_SUFFIX

    @property
    def storage(self) -> dict[str, str]:
        """The host's storage settings by name, as ``StorageQueue.connect`` takes them."""
        values = {
            "AzureWebJobsStorage": self.storage_connection.get_secret_value() if self.storage_connection else None,
            "AzureWebJobsStorage__queueServiceUri": self.storage_queue_uri,
            "AzureWebJobsStorage__blobServiceUri": self.storage_blob_uri,
            "AzureWebJobsStorage__clientId": self.storage_client_id,
        }
        return {k: v for k, v in values.items() if v}

    def load_config(self, path: str | None = None, root: Path | None = None) -> SyncConfig:
        """The YAML configuration: ``--config`` over ``HUBSYNC_CONFIG``. A relative path is read
        from ``root`` when given (the Function App's root, whatever the working directory)."""
        chosen = path or self.config_path
        if not chosen:
            raise ConfigurationError("no configuration file: pass --config or set HUBSYNC_CONFIG")
        return load_config(root / chosen if root is not None and not Path(chosen).is_absolute() else chosen)

    def source_url_for(self, config: SyncConfig) -> str:
        """``HUBSYNC_SOURCE_URL`` (may carry a password) over ``source.url`` (never does)."""
        if self.source_url is not None:
            return self.source_url.get_secret_value()
        if config.source.url:
            return config.source.url
        raise ConfigurationError("no source database: set HUBSYNC_SOURCE_URL or source.url in the configuration")

    def token_for(self, config: SyncConfig) -> SecretStr:
        """``HUBSPOT_ACCESS_TOKEN``; the emulator's own token when ``hubspot.mode: emulator``."""
        if self.hubspot_token is not None:
            return self.hubspot_token
        if config.hubspot.mode == "emulator":
            return SecretStr(EMULATOR_TOKEN)
        raise ConfigurationError(
            "HUBSPOT_ACCESS_TOKEN is not set: create a HubSpot private app with the CRM object scopes "
            "and put its token in HUBSPOT_ACCESS_TOKEN (a Key Vault reference in Azure)"
        )

    def uses_storage_queues(self, config: SyncConfig, in_functions: bool = False) -> bool:
        """Inside Azure Functions the queues are always Storage queues, whatever queue.backend says."""
        return in_functions or config.queue.backend == "azure"


def _fields() -> dict[str, Any]:
    return {f.validation_alias: f for f in Settings.model_fields.values()}


# name -> (required in Azure, description): the settings the Bicep and local settings must define
APP_SETTINGS: dict[str, tuple[bool, str]] = {
    name: (bool(f.json_schema_extra["required_in_azure"]), f.description or "")
    for name, f in _fields().items() if f.json_schema_extra["app_setting"]
}


def setting_problems(err: ValidationError) -> list[str]:
    """One line per invalid setting, naming it."""
    aliases = {name: alias for alias, name in ((f.validation_alias, n) for n, f in Settings.model_fields.items())}
    problems = []
    for item in err.errors():
        msg = item["msg"].removeprefix("Value error, ")
        name = str(item["loc"][0]) if item["loc"] else ""
        setting = aliases.get(name, name)
        problems.append(msg if msg.startswith(setting) else f"{setting}: {msg}")
    return problems


def check_app_settings(env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem with the Function App's settings (empty when they are fine); ``env``
    defaults to the process environment."""
    env = os.environ if env is None else env
    problems = []
    for name, (required, description) in APP_SETTINGS.items():
        if required and not (env.get(name) or "").strip():
            near = difflib.get_close_matches(name, list(env), n=1, cutoff=0.8)
            hint = f" (found {near[0]!r}: misspelt?)" if near and near[0] != name else ""
            problems.append(f"app setting {name} is missing{hint}: {description}")
    if not (env.get("AzureWebJobsStorage") or env.get("AzureWebJobsStorage__queueServiceUri")):
        problems.append("app setting AzureWebJobsStorage (or AzureWebJobsStorage__queueServiceUri) is missing")
    try:
        settings: Settings | None = Settings.from_env(env)
    except ConfigurationError as err:
        problems += err.problems
        settings = None
    url = settings.source_url.get_secret_value() if settings and settings.source_url else ""
    if url.startswith("mssql"):
        from shared.source.mssql import installed_drivers

        drivers = installed_drivers()
        if not any("SQL Server" in d for d in drivers):
            problems.append(f"no SQL Server ODBC driver is installed; pyodbc.drivers() = {drivers}")
    return problems


def check_startup(env: Mapping[str, str] | None = None, root: Path | None = None) -> list[str]:
    """Every problem found without the network: the app settings (``check_app_settings``), then
    the configuration file ``HUBSYNC_CONFIG`` names (relative to ``root``) and what it must
    provide together with the settings (a source database, a token). Each names what to fix."""
    env = os.environ if env is None else env
    problems = check_app_settings(env)
    path = (env.get("HUBSYNC_CONFIG") or "").strip()
    if not path:
        return problems
    try:
        config = Settings(config_path=path).load_config(root=root)
    except ConfigurationError as err:
        where = "" if str(err) in err.problems else f"{path}: "
        found = [f"HUBSYNC_CONFIG: {where}{p}" for p in err.problems]
        found[-1] += ("; deploy the file with the code (config/hubsync.yaml, docs/azure.md#configuration), "
                      "checked first with `hubsync validate --offline`")
        return problems + found
    if problems:
        return problems  # the settings could not be read: what the configuration needs from them is unknown
    settings = Settings.from_env(env)
    for need in (settings.source_url_for, settings.token_for):
        try:
            need(config)
        except ConfigurationError as err:
            problems.append(str(err))
    return problems


def cannot_start(problems: list[str]) -> str:
    """The one message (and first log line) of a deployment that cannot start."""
    return "hubsync cannot start:\n  " + "\n  ".join(problems)


def require_app_settings(env: Mapping[str, str] | None = None) -> None:
    """Refuse to start, listing every problem, when the Function App's settings are wrong."""
    problems = check_app_settings(env)
    if problems:
        raise ConfigurationError(cannot_start(problems), problems)

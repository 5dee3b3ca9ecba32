"""Runtime settings: everything hubsync reads from the environment (Function App settings).

Secrets (the HubSpot token, a source URL carrying a password) live only here, typed as
``SecretStr`` so they never appear in a ``repr``, a log line or an exception message.
The YAML configuration never holds a secret.

``APP_SETTINGS`` is the single list of settings the code reads; the test suite checks that
each one is defined in the Bicep and in ``local.settings.example.json``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from shared.errors import ConfigurationError

DEFAULT_QUEUE_NAME = "hubsync-batches"
POISON_SUFFIX = "-poison"
# Storage queue names are 3-63 characters; the host appends "-poison" (7) for poison messages.
MAX_QUEUE_NAME_LENGTH = 56
DEFAULT_SCHEDULE = "0 */15 * * * *"

# name -> (required in Azure, description)
APP_SETTINGS: dict[str, tuple[bool, str]] = {
    "HUBSYNC_CONFIG": (True, "Path of the YAML sync configuration (relative to the app root)."),
    "HUBSPOT_ACCESS_TOKEN": (True, "HubSpot private-app token (a Key Vault reference in Azure)."),
    "HUBSYNC_SOURCE_URL": (False, "SQLAlchemy URL of the source database; overrides source.url."),
    "HUBSYNC_SQL_AUTH": (False, "'managed-identity' to sign in to Azure SQL with the app's identity."),
    "HUBSPOT_BASE_URL": (False, "Another HubSpot host (the emulator, a proxy)."),
    "HUBSYNC_SCHEDULE": (True, "NCRONTAB (six fields) for the timer planner."),
    "HUBSYNC_QUEUE_NAME": (True, "Storage queue of batch messages (<= 56 characters)."),
    "AZURE_CLIENT_ID": (False, "Client id of the user-assigned managed identity."),
}

_QUEUE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")


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


@dataclass(frozen=True)
class Settings:
    """Settings read once from the environment."""

    config_path: str | None = None
    hubspot_token: SecretStr | None = None
    source_url: SecretStr | None = None
    sql_auth: str | None = None
    hubspot_base_url: str | None = None
    schedule: str = DEFAULT_SCHEDULE
    queue_name: str = DEFAULT_QUEUE_NAME
    azure_client_id: str | None = None
    storage: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold an account key

    @property
    def poison_queue_name(self) -> str:
        return self.queue_name + POISON_SUFFIX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        token = get("HUBSPOT_ACCESS_TOKEN")
        source = get("HUBSYNC_SOURCE_URL")
        sql_auth = get("HUBSYNC_SQL_AUTH")
        if sql_auth is not None and sql_auth not in ("managed-identity", "sql"):
            raise ConfigurationError(
                f"HUBSYNC_SQL_AUTH: {sql_auth!r} is not one of 'managed-identity', 'sql'"
            )
        storage = {k: v for k, v in env.items() if k == "AzureWebJobsStorage" or k.startswith("AzureWebJobsStorage__")}
        return cls(
            config_path=get("HUBSYNC_CONFIG"),
            hubspot_token=SecretStr(token) if token else None,
            source_url=SecretStr(source) if source else None,
            sql_auth=sql_auth,
            hubspot_base_url=get("HUBSPOT_BASE_URL"),
            schedule=get("HUBSYNC_SCHEDULE") or DEFAULT_SCHEDULE,
            queue_name=validate_queue_name(get("HUBSYNC_QUEUE_NAME") or DEFAULT_QUEUE_NAME),
            azure_client_id=get("AZURE_CLIENT_ID"),
            storage=storage,
        )

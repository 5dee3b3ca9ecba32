"""Checks the Function App runs before it registers anything: a missing or misspelt setting,
a queue name with no room for its poison queue, a schedule that does not parse, or no SQL
Server ODBC driver → the app refuses to start with a message naming what to fix."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from shared.errors import ConfigurationError
from shared.schedule import validate_schedule
from shared.settings import APP_SETTINGS, validate_queue_name


def check_app_settings(env: Mapping[str, str]) -> list[str]:
    """Every problem with the app settings (empty when they are fine)."""
    problems = []
    for name, (required, description) in APP_SETTINGS.items():
        if required and not (env.get(name) or "").strip():
            near = difflib.get_close_matches(name, list(env), n=1, cutoff=0.8)
            hint = f" (found {near[0]!r}: misspelt?)" if near and near[0] != name else ""
            problems.append(f"app setting {name} is missing{hint}: {description}")
    if not (env.get("AzureWebJobsStorage") or env.get("AzureWebJobsStorage__queueServiceUri")):
        problems.append("app setting AzureWebJobsStorage (or AzureWebJobsStorage__queueServiceUri) is missing")
    for name, check in (("HUBSYNC_QUEUE_NAME", validate_queue_name), ("HUBSYNC_SCHEDULE", validate_schedule)):
        value = (env.get(name) or "").strip()
        if value:
            try:
                check(value)
            except ConfigurationError as err:
                problems.append(str(err))
    url = env.get("HUBSYNC_SOURCE_URL") or ""
    if url.startswith("mssql"):
        from shared.source.mssql import installed_drivers

        drivers = installed_drivers()
        if not any("SQL Server" in d for d in drivers):
            problems.append(f"no SQL Server ODBC driver is installed; pyodbc.drivers() = {drivers}")
    return problems


def require_app_settings(env: Mapping[str, str]) -> None:
    problems = check_app_settings(env)
    if problems:
        raise ConfigurationError("hubsync cannot start:\n  " + "\n  ".join(problems), problems)

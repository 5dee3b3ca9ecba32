"""Whether a deployment can sync: the checks ``/api/health`` and the timer planner run against the
live services before anything is enqueued, each problem naming its fix, and the statements that
give the app's database identity what it needs (``hubsync init-db --grant-to``).

- the source database answers (its URL, the network path, a database user for the identity);
- the identity may read every enabled object's table;
- hubsync's state tables exist and are current (``hubsync init-db``), and the identity may read
  and write them, probed with statements that match no row inside a transaction rolled back;
- the batch queue answers.

The identity never needs DDL: whoever runs ``hubsync init-db`` (the database's owner or its
Microsoft Entra admin) creates and upgrades the state tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import false, func, literal, select, table, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import Executable

from shared.config import ObjectConfig
from shared.errors import ConfigurationError, HubsyncError, SourceError
from shared.redaction import first_line, scrub_secrets
from shared.runtime import Runtime
from shared.sync_logger import log_event

log = logging.getLogger("hubsync.readiness")
SQL_ACCESS_DOC = "docs/azure.md#azure-sql-access"
STATE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
GRANTABLE = ("mssql", "postgresql")  # databases with users to grant to


# -- what the identity needs --------------------------------------------------------------------


def grant_statements(rt: Runtime, principal: str) -> list[str]:
    """What the database identity ``principal`` needs, in this database's SQL: its user (SQL
    Server: from Microsoft Entra ID, made once), SELECT on every enabled object's table, and
    SELECT, INSERT, UPDATE, DELETE on hubsync's state tables."""
    dialect = rt.engine.dialect.name
    if dialect not in GRANTABLE:
        raise ConfigurationError(f"--grant-to: {dialect} has no database users to grant to (SQL Server and "
                                 "PostgreSQL have)")
    who = _quote(rt.engine, principal)
    statements = []
    if dialect == "mssql":
        name = principal.replace("'", "''")
        statements.append(f"IF DATABASE_PRINCIPAL_ID(N'{name}') IS NULL CREATE USER {who} FROM EXTERNAL PROVIDER")
    for obj in _tables(rt):
        if dialect == "postgresql" and obj.schema_name:
            statements.append(f"GRANT USAGE ON SCHEMA {_quote(rt.engine, obj.schema_name)} TO {who}")
        statements.append(f"GRANT SELECT ON {_qualified(rt.engine, obj.schema_name, obj.table_name)} TO {who}")
    return statements + _state_grants(rt, who)


def apply_grants(rt: Runtime, statements: Sequence[str]) -> None:
    """Run ``grant_statements`` (signed in as the database's owner or Microsoft Entra admin)."""
    try:
        with rt.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    except SQLAlchemyError as err:
        raise SourceError(f"granting failed: {first_line(err)}; sign in as the database's owner or its Microsoft "
                          f"Entra admin ({SQL_ACCESS_DOC})") from None


def _state_grants(rt: Runtime, who: str) -> list[str]:
    privileges = ", ".join(STATE_PRIVILEGES)
    schema = rt.state.schema
    if schema and rt.engine.dialect.name == "mssql":
        return [f"GRANT {privileges} ON SCHEMA::{_quote(rt.engine, schema)} TO {who}"]  # tables added later too
    if schema and rt.engine.dialect.name == "postgresql":
        s = _quote(rt.engine, schema)
        return [f"GRANT USAGE ON SCHEMA {s} TO {who}", f"GRANT {privileges} ON ALL TABLES IN SCHEMA {s} TO {who}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {who}"]
    return [f"GRANT {privileges} ON {_qualified(rt.engine, schema, t.name)} TO {who}"
            for t in rt.state.metadata.sorted_tables]


def _tables(rt: Runtime) -> list[ObjectConfig]:
    seen: dict[str, ObjectConfig] = {}
    for obj in rt.config.objects:
        if obj.enabled:
            seen.setdefault(obj.table.lower(), obj)
    return list(seen.values())


def _quote(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote_identifier(name)


def _qualified(engine: Engine, schema: str | None, name: str) -> str:
    return (_quote(engine, schema) + "." if schema else "") + _quote(engine, name)


def database_user(engine: Engine) -> str | None:
    """The database user the app is signed in as (``CURRENT_USER``), for the grants a fix names."""
    if engine.dialect.name not in GRANTABLE:
        return None
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.current_user())).scalar()
    except SQLAlchemyError:
        return None


# -- does it have it ----------------------------------------------------------------------------


def problems(rt: Runtime) -> list[str]:
    """Every problem that keeps this deployment from syncing, each naming its fix (empty: ready)."""
    try:
        rt.check_source()
    except HubsyncError as err:
        return [f"{err}; check HUBSYNC_SOURCE_URL, the network path to the database and the identity's database "
                f"user (CREATE USER ... FROM EXTERNAL PROVIDER): {SQL_ACCESS_DOC}"]
    user = database_user(rt.engine)
    found = [p for obj in _tables(rt) for p in _table_problems(rt, obj, user)]
    return found + _state_problems(rt, user) + _queue_problems(rt)


def _fix(rt: Runtime, user: str | None, statements: Callable[[Runtime, str], list[str]]) -> str:
    if rt.engine.dialect.name not in GRANTABLE:
        return ""
    grants = "; ".join(statements(rt, _quote(rt.engine, user or "<the app's identity>")))
    return f"; as the database's owner or Microsoft Entra admin run: {grants} ({SQL_ACCESS_DOC})"


def _table_problems(rt: Runtime, obj: ObjectConfig, user: str | None) -> list[str]:
    index = rt.config.objects.index(obj)
    probe = select(literal(1)).select_from(table(obj.table_name, schema=obj.schema_name)).where(false())
    try:
        with rt.engine.connect() as conn:
            conn.execute(probe)
    except SQLAlchemyError as err:
        who = f"database user {user!r}" if user else "the app"

        def grant(_rt: Runtime, q: str) -> list[str]:
            return [f"GRANT SELECT ON {_qualified(rt.engine, obj.schema_name, obj.table_name)} TO {q}"]

        return [f"objects[{index}] ({obj.name}): {who} cannot read table {obj.table!r}: {first_line(err)}"
                + _fix(rt, user, grant)]
    try:
        rt.delta_source(obj)  # the configured columns and watermark, as the planner reads them
    except HubsyncError as err:
        return [str(err)]
    return []


def state_probes(t: Any) -> list[tuple[str, Executable]]:
    """(privilege, a statement that needs it and matches no row) for one state table."""
    writable = [c for c in t.columns if c is not t.autoincrement_column]
    return [
        ("SELECT", select(literal(1)).select_from(t).where(false())),
        ("INSERT", t.insert().from_select(writable, select(*writable).where(false()))),
        ("UPDATE", t.update().where(false()).values({writable[0].name: writable[0]})),
        ("DELETE", t.delete().where(false())),
    ]


def _state_problems(rt: Runtime, user: str | None) -> list[str]:
    try:
        rt.state.check(hint="hubsync init-db")
    except HubsyncError as err:
        return [f"{err}, as the database's owner or Microsoft Entra admin ({SQL_ACCESS_DOC})"]
    if rt.engine.dialect.name not in GRANTABLE:
        return []
    refused: dict[str, list[str]] = {}
    with rt.engine.connect() as conn, conn.begin() as transaction:
        for t in rt.state.metadata.sorted_tables:
            for privilege, statement in state_probes(t):
                try:
                    with conn.begin_nested():
                        conn.execute(statement)  # matches no row: only the permission is checked
                except SQLAlchemyError:
                    refused.setdefault(t.fullname, []).append(privilege)
        transaction.rollback()
    if not refused:
        return []
    missing = "; ".join(f"{name}: {', '.join(privileges)}" for name, privileges in refused.items())
    who = f"database user {user!r}" if user else "the app"
    return [f"{who} lacks privileges on hubsync's state tables ({missing})"
            + _fix(rt, user, _state_grants)]


def _queue_problems(rt: Runtime) -> list[str]:
    try:
        rt.queue.approximate_count()
    except Exception as err:  # noqa: BLE001 - reported with its fix, whatever the storage SDK raised
        return [f"HUBSYNC_QUEUE_NAME: queue {rt.settings.queue_name!r} cannot be read: "
                f"{scrub_secrets(str(err).splitlines()[0] if str(err) else type(err).__name__)[:300]}; the app's "
                "identity needs 'Storage Queue Data Contributor' on the storage account of "
                "AzureWebJobsStorage__queueServiceUri"]
    return []


def require(rt: Runtime) -> None:
    """Raise ConfigurationError listing every problem (the planner's gate: nothing is enqueued)."""
    found = problems(rt)
    if found:
        message = "hubsync is not ready to sync:\n  " + "\n  ".join(found)
        log_event(log, logging.ERROR, "not_ready", problems=len(found), error=message[:4000])
        raise ConfigurationError(message, found)


def report(build: Callable[[], Runtime], startup: Sequence[str], runs: int = 5) -> dict[str, Any]:
    """The health endpoint's body: ``status`` (ok, misconfigured: the app cannot start, not_ready:
    a service refuses), the ``problems``, and when ready the recent runs, parked batches and queue length."""
    if startup:
        return {"status": "misconfigured", "problems": list(startup)}
    try:
        rt = build()
    except Exception as err:  # noqa: BLE001 - reported, not raised: this is the health endpoint
        return {"status": "not_ready", "problems": [f"{type(err).__name__}: {scrub_secrets(str(err))[:500]}"]}
    found = problems(rt)
    if found:
        return {"status": "not_ready", "problems": found}
    recent = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
              for r in rt.state.recent_runs(runs)]
    return {"status": "ok", "problems": [], "runs": recent, "parked_batches": len(rt.state.list_poison()),
            "queued": rt.queue.approximate_count()}

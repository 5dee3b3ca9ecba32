"""``_insert_absent``: the one insert every state part uses for rows another worker may insert
at the same time (shared/state/tables.py). PostgreSQL and SQLite run it as one
``INSERT ... ON CONFLICT DO NOTHING RETURNING``; SQL Server (and a database without RETURNING)
inside a savepoint. Both paths must tell the caller when a key existed, and keep the
transaction usable."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from shared.state import StateStore

pytestmark = pytest.mark.integration


def _pending(*keys: str) -> list[dict[str, object]]:
    return [{"object_name": "contacts", "source_key": k, "last_outcome": "pending",
             "updated_at": dt.datetime(2026, 1, 1), "sending_version": "v1", "sending_value": None} for k in keys]


@pytest.mark.parametrize("path", ["one statement", "savepoint"])
def test_insert_absent_reports_existing_keys_and_keeps_the_transaction(source_db, monkeypatch, path) -> None:
    engine, schema = source_db
    state = StateStore(engine, f"{schema}_state" if schema else None)
    state.init_db()
    if path == "savepoint":
        monkeypatch.setattr(state.engine.dialect, "insert_returning", False)
    statements: list[str] = []
    sa.event.listen(state.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    with state.transaction() as conn:
        assert state._insert_absent(conn, state.records, _pending("a", "b"))
    with state.transaction() as conn:
        assert not state._insert_absent(conn, state.records, _pending("b", "c"))  # "b" exists: reported
        assert state._insert_absent(conn, state.records, _pending("d"))  # and the transaction goes on

    keys = {r.source_key for r in state.all_records("contacts")}
    # one statement inserts the absent keys of a partly existing set; a savepoint inserts none of them
    assert keys == ({"a", "b", "c", "d"} if path == "one statement" else {"a", "b", "d"})
    savepoints = [s for s in statements if s.upper().startswith("SAVEPOINT")]
    assert bool(savepoints) == (path == "savepoint")

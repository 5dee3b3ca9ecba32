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


def _plan(engine: sa.Engine, state: StateStore, keys: list[str]) -> str:
    stmt = sa.select(state.records.c.source_key).where(sa.and_(
        state.records.c.object_name == "contacts", state._in(state.records.c.source_key, keys)))
    with engine.connect() as conn:
        compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        return "\n".join(conn.execute(sa.text(f"EXPLAIN {compiled}")).scalars())


def test_state_lookups_stay_index_reads_while_a_first_sync_fills_the_tables(pg_engine, pg_schema) -> None:
    """PostgreSQL refreshes a table's statistics about once a minute at best; a first sync fills
    hubsync's state tables faster, and was planned all along as if they held a few rows (each
    100-key lookup read every record of the object: 7-9 ms at 50,000 rows instead of 0.2 ms).
    hubsync refreshes them itself as they grow."""
    state = StateStore(pg_engine, f"{pg_schema}_state")
    state.init_db()
    with state.transaction():
        state.claim_sends("contacts", [(f"[{i}]", "v1", None) for i in range(20)])
    with pg_engine.begin() as conn:  # statistics taken while the table was small, as autovacuum would
        conn.execute(sa.text(f'ANALYZE "{pg_schema}_state".records'))
    for start in range(20, 20_000, 100):  # a first sync: 100 rows per batch
        state.claim_sends("contacts", [(f"[{i}]", "v1", None) for i in range(start, start + 100)])

    plan = _plan(pg_engine, state, [f"[{i}]" for i in range(5000, 5100)])
    index_line = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "source_key" in index_line, plan  # the key list is looked up in the index, not filtered

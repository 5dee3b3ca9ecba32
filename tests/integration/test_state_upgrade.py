"""State tables made by an older hubsync: `check` names what is missing and `init-db` adds it,
keeping every row (shared/state/tables.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.errors import ConfigurationError
from shared.state import StateStore

pytestmark = pytest.mark.integration

OLD_RUNS = """CREATE TABLE {runs} (
    run_id VARCHAR(40) PRIMARY KEY, mode VARCHAR(16) NOT NULL, status VARCHAR(16) NOT NULL,
    started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP,
    rows_read BIGINT NOT NULL, batches BIGINT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL, rejected BIGINT NOT NULL, failed BIGINT NOT NULL, missing BIGINT NOT NULL,
    api_calls BIGINT NOT NULL, error TEXT)"""


def test_an_older_runs_table_gets_its_new_counter_and_keeps_its_rows(source_db) -> None:
    engine, schema = source_db
    state = StateStore(engine, f"{schema}_state" if schema else None)
    state.init_db()
    runs = state.runs
    with engine.begin() as conn:  # the runs table as hubsync 0.1 made it, with one run in it
        conn.execute(sa.text(f"DROP TABLE {engine.dialect.identifier_preparer.format_table(runs)}"))
        conn.execute(sa.text(OLD_RUNS.format(runs=engine.dialect.identifier_preparer.format_table(runs))))
        conn.execute(sa.text(f"INSERT INTO {engine.dialect.identifier_preparer.format_table(runs)} VALUES "
                             "('r1', 'cli', 'finished', '2026-01-01 00:00:00', NULL, 5, 1, 4, 0, 0, 1, 0, 0, 2, NULL)"))

    missing = r"lack (hubsync_)?runs.adopted, (hubsync_)?runs.linked, (hubsync_)?runs.unlinked: run `hubsync init-db`"
    with pytest.raises(ConfigurationError, match=missing + " to add them"):
        state.check()
    state.init_db()
    state.check()

    run = state.get_run("r1")
    assert (run["created"], run["rejected"], run["api_calls"], run["adopted"], run["linked"]) == (4, 1, 2, 0, 0)
    state.start_run("r2", "cli")
    state.add_counts("r2", adopted=3)
    assert state.get_run("r2")["adopted"] == 3

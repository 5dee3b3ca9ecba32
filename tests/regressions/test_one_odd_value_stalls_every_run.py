"""One row holding a value the PostgreSQL driver cannot load (a ``date`` of 'infinity', legal in
PostgreSQL and common as an "open end" marker) makes ``SourceTable.read_rows`` raise
``SourceError``, a ``ConfigurationError``. The drain treats it as an operator problem: it stops
the whole run (exit 2, "configuration error"), the watermark does not move, and the next run
meets the same row in the same place. The row is never rejected with a reason, the other 99 rows
of its batch are never sent, and no later run gets past it. The README promises per-row
isolation of odd values."""

from __future__ import annotations

import sqlalchemy as sa

from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers


def test_one_unloadable_value_is_rejected_not_a_run_stopper(pg_engine, pg_schema, emulator):
    create_customers(pg_engine, 10, schema=pg_schema)
    with pg_engine.begin() as conn:  # customer 4's signup date is open-ended
        conn.execute(sa.text(f"UPDATE \"{pg_schema}\".customers SET signup_date = 'infinity' WHERE customer_id = 4"))
    config = config_dict(table=f"{pg_schema}.customers", state_schema=f"{pg_schema}_state")
    rt = make_runtime(pg_engine, emulator, config=config)
    try:
        first = run_sync(rt, workers=1, base_backoff=0.01)
        second = run_sync(rt, workers=1, base_backoff=0.01)
        rec4 = rt.state.get_records("contacts", ["[4]"]).get("[4]")
        watermark = rt.state.get_position("contacts")
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{pg_schema}_state" CASCADE'))

    synced = len(emulator.records("contacts"))
    # rows 1-10 minus the odd row 4 (rows 37/73/91 are beyond 10): 9 contacts, row 4 rejected with its reason
    assert first.drain.fatal is None and synced == 9 and rec4 is not None and rec4.last_outcome == "rejected", (
        f"first run fatal={type(first.drain.fatal).__name__}: {first.drain.fatal}; "
        f"second run fatal={type(second.drain.fatal).__name__}; HubSpot holds {synced} contacts; "
        f"row 4 state={rec4}; watermark={watermark}")

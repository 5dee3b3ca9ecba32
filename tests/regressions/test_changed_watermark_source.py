"""Issue 8.5: changing an object's table or watermark column silently reused the old watermark,
so the new table's rows (with lower versions) were never read. hubsync now refuses to resume
from a position of another table or column, names the fix, and `hubsync reset OBJECT` rewinds."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.errors import ConfigurationError
from shared.sync.preflight import preflight
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers


def test_a_new_table_is_refused_until_reset_then_read_from_the_start(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 20)
    with engine.begin() as conn:  # the new table: the same people, renumbered versions (all at or below the saved position)
        conn.execute(sa.text("CREATE TABLE customers_v2 AS SELECT * FROM customers"))
        conn.execute(sa.text("UPDATE customers_v2 SET row_version = row_version - 1, last_name = 'V2'"))
    rt = make_runtime(engine, emulator)
    run_sync(rt, base_backoff=0.01)

    moved = make_runtime(engine, emulator, config=config_dict(table="customers_v2"))
    with pytest.raises(ConfigurationError, match=r"hubsync reset contacts"):
        preflight(moved, moved.config.objects)
    with pytest.raises(ConfigurationError, match=r"customers.row_version \(integer\).*customers_v2.row_version"):
        run_sync(moved, base_backoff=0.01)

    moved.state.reset_position("contacts")  # what `hubsync reset contacts` does
    moved.state.forget_versions("contacts")
    again = run_sync(moved, base_backoff=0.01)

    assert again.run["rows_read"] == 20 and again.run["updated"] == 20
    assert {r["properties"]["lastname"] for r in emulator.records("contacts")} == {"V2"}

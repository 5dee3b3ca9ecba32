"""Issue 8.11: NULL watermark values passed `validate`, then `plan`/`run` failed naming neither
object nor key, and one such row blocked the whole object. They are now rejected with a reason
naming the column, the rest of the object syncs, and `validate` warns about them."""

from __future__ import annotations

import sqlalchemy as sa
import yaml

from shared.keys import key_to_json
from shared.sync.run import run_sync
from tests.conftest import TOKEN
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers, hubsync


def people(engine: sa.Engine) -> None:
    create_customers(engine, 12)
    with engine.begin() as conn:  # CREATE TABLE AS: the copy's row_version may be NULL
        conn.execute(sa.text("CREATE TABLE people AS SELECT * FROM customers"))
        conn.execute(sa.text("UPDATE people SET row_version = NULL WHERE customer_id IN (3, 4)"))


def test_rows_without_a_watermark_are_rejected_and_the_rest_syncs(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    people(engine)
    rt = make_runtime(engine, emulator, config=config_dict(table="people"))

    result = run_sync(rt, base_backoff=0.01)

    assert result.drain.fatal is None
    assert result.run["created"] == 10 and result.run["rejected"] == 2
    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    for i in (3, 4):
        assert "watermark column row_version is NULL" in records[key_to_json([i])].reason
    assert len(emulator.records("contacts")) == 10


def test_validate_warns_about_them(tmp_path, emulator):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    people(engine)
    config = config_dict(table="people")
    config["source"]["url"] = f"sqlite:///{tmp_path / 'src.db'}"
    path = tmp_path / "hubsync.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": emulator.base_url, "HUBSYNC_CONFIG": str(path)}
    hubsync("init-db", env=env, cwd=tmp_path)

    result = hubsync("validate", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "warning contacts: 2 row(s) have a NULL row_version" in result.stdout

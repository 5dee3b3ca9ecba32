"""`hubsync` as a user runs it: a real process, exit codes, clear errors, nothing written on
bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hubspot_emulator import Emulator
from tests.conftest import ROOT
from tests.support import hubsync


def _state_rows(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        if table not in sa.inspect(conn).get_table_names():
            return 0
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()


def test_init_db_validate_run_status(project, emulator):
    env, cwd = project["env"], project["cwd"]
    init = hubsync("init-db", env=env, cwd=cwd)
    assert init.returncode == 0, init.stderr
    check = hubsync("validate", env=env, cwd=cwd)
    assert check.returncode == 0, check.stderr
    assert "ok contacts" in check.stdout

    run = hubsync("run", "--workers", "2", "--progress-seconds", "0.2", env=env, cwd=cwd)
    assert run.returncode == 1, run.stderr  # row 37 is rejected: exit 1
    assert "created" in run.stdout and "59" in run.stdout
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in run.stdout.splitlines()]
    rows = {c[0]: c[1] for c in cells if len(c) == 2}
    assert rows["duration"].endswith(" s") and float(rows["duration"][:-2]) > 0
    assert int(rows["rows per second"]) > 0
    # output is not a terminal: progress comes as lines, the last one with the run's totals
    progress = [line for line in run.stdout.splitlines() if line.startswith("progress: ")]
    assert progress and progress[-1].startswith("progress: 60 rows read, 1/1 batches, ")
    assert len(emulator.records("contacts")) == 59

    status = hubsync("status", "--rejected", env=env, cwd=cwd)
    assert status.returncode == 0
    assert "contacts rejected x1: email (column email): invalid email" in status.stdout
    assert "rows: customer_id=37" in status.stdout

    again = hubsync("run", env=env, cwd=cwd)
    assert again.returncode == 0, again.stdout + again.stderr  # nothing changed, nothing rejected
    assert "rows read" in again.stdout


def test_plan_is_a_dry_run_that_writes_nothing(project, emulator):
    env, cwd, engine = project["env"], project["cwd"], project["engine"]
    hubsync("init-db", env=env, cwd=cwd)
    result = hubsync("plan", "--sample", "2", env=env, cwd=cwd)
    assert result.returncode == 1  # a rejected row is reported: exit 1
    assert "create" in result.stdout and "59" in result.stdout
    assert "-> 'user1@example.com'" in result.stdout  # per-field before -> after sample
    assert "reject contacts [37]" in result.stdout
    assert emulator.records("contacts") == []
    assert all(c[0] == "GET" or c[1].endswith("/batch/read") for c in emulator.calls)
    for table in ("hubsync_runs", "hubsync_records", "hubsync_watermarks", "hubsync_batches"):
        assert _state_rows(engine, table) == 0, table


def test_print_sql_shows_ddl_without_touching_the_database(project):
    result = hubsync("init-db", "--print-sql", env=project["env"], cwd=project["cwd"])
    assert result.returncode == 0
    assert "CREATE TABLE hubsync_records" in result.stdout
    assert _state_rows(project["engine"], "hubsync_records") == 0
    assert "hubsync_records" not in sa.inspect(project["engine"]).get_table_names()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["objects"][0]["fields"]["email"].update(transform=["trim", "lowr"]),
         "objects[0].fields.email.transform: unknown transform 'lowr'"),
        (lambda c: c["objects"][0].update(table="no_such_table"), "table 'no_such_table' does not exist"),
        (lambda c: c["objects"][0]["fields"]["firstname"].update(column="first_nam"),
         "has no column(s) 'first_nam'"),
        (lambda c: c["objects"][0]["fields"].update(not_a_property={"column": "email"}),
         "property 'not_a_property' does not exist on contacts"),
        (lambda c: c["source"].update(url="postgresql+psycopg://u:secret@127.0.0.1:1/x"),
         "must not contain a password"),
        (lambda c: c.setdefault("hubspot", {}).update(reserve_share=0.95), "hubspot.reserve_share"),
        (lambda c: c.setdefault("hubspot", {}).update(budget_container="Rate_Budget"),
         "'Rate_Budget' is not a valid blob container name"),
    ],
)
def test_bad_configuration_exits_2_naming_the_fix_and_writes_nothing(project, emulator, mutate, message):
    env, cwd, engine = project["env"], project["cwd"], project["engine"]
    assert hubsync("init-db", env=env, cwd=cwd).returncode == 0
    config = project["config"]
    mutate(config)
    project["path"].write_text(yaml.safe_dump(config))

    result = hubsync("run", env=env, cwd=cwd)

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "secret" not in result.stderr
    assert emulator.records("contacts") == []
    assert _state_rows(engine, "hubsync_watermarks") == 0
    assert _state_rows(engine, "hubsync_runs") == 0


def test_a_ceiling_above_every_hubspot_tier_exits_2_before_anything_is_sent(project):
    env, cwd = dict(project["env"]), project["cwd"]
    assert hubsync("init-db", env=env, cwd=cwd).returncode == 0
    env.pop("HUBSPOT_BASE_URL")  # HubSpot itself: its documented limits apply
    project["config"]["hubspot"]["requests_per_10s"] = 400
    project["path"].write_text(yaml.safe_dump(project["config"]))
    result = hubsync("run", env=env, cwd=cwd)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "hubspot.requests_per_10s=400 is above HubSpot's highest burst limit" in " ".join(result.stderr.split())
    assert _state_rows(project["engine"], "hubsync_runs") == 0


def test_wrong_token_exits_2_and_moves_no_watermark(project, emulator):
    env = {**project["env"], "HUBSPOT_ACCESS_TOKEN": "wrong-token"}
    assert hubsync("init-db", env=env, cwd=project["cwd"]).returncode == 0
    result = hubsync("run", env=env, cwd=project["cwd"])
    assert result.returncode == 2
    assert "HUBSPOT_ACCESS_TOKEN" in result.stderr and "401" in result.stderr
    assert "wrong-token" not in result.stderr + result.stdout
    assert _state_rows(project["engine"], "hubsync_watermarks") == 0
    assert emulator.records("contacts") == []


def test_unreachable_database_exits_3_as_an_outage(project):
    # a database that cannot be reached is an outage (exit 3, like the same failure mid-run), not a
    # configuration error; a missing table is one (exit 2, test_bad_configuration_exits_2_naming_the_fix_and_writes_nothing)
    env = {**project["env"], "HUBSYNC_SOURCE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:9/nowhere"}
    result = hubsync("validate", env=env, cwd=project["cwd"])
    assert result.returncode == 3
    assert "cannot connect to the source database" in result.stderr
    assert "hunter2" not in result.stderr


def test_missing_state_tables_name_the_command(project):
    result = hubsync("run", env=project["env"], cwd=project["cwd"])
    assert result.returncode == 2
    assert "hubsync init-db" in result.stderr


def test_usage_error_exits_2(project):
    result = hubsync("run", "--workers", "0", env=project["env"], cwd=project["cwd"])
    assert result.returncode == 2


def test_demo_runs_with_no_token_and_second_run_sends_only_edits(tmp_path):
    env = {"HUBSYNC_EMULATOR_DATA": str(tmp_path / "emulator.json")}
    config = tmp_path / "demo.yaml"
    text = (ROOT / "examples/demo.yaml").read_text().replace("sqlite:///.hubsync/demo.db",
                                                             f"sqlite:///{tmp_path / 'demo.db'}")
    config.write_text(text)
    first = hubsync("run", "-c", str(config), env=env, cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # the demo's deliberately bad rows
    counts = dict(re.findall(r"│\s*([a-z ]+?)\s*│\s*(\d+)\s*│", first.stdout))
    # 970 valid customers, 10 companies, 50 deals; links: 940 customers with a company that exists, 50 deals
    assert (counts["created"], counts["rejected"], counts["associations made"]) == ("1030", "30", "990")
    assert counts["associations pending or failed"] == "10"  # customers naming company 9999
    edit = hubsync("demo", "edit", "-c", str(config), env=env, cwd=tmp_path)
    assert edit.returncode == 0 and "changed 10 customers" in edit.stdout
    second = hubsync("run", "-c", str(config), env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    lines = dict(re.findall(r"│\s*([a-z ]+?)\s*│\s*(\d+)\s*│", second.stdout))
    assert lines.get("rows read") == "10" and lines.get("updated") == "10" and lines.get("api calls") == "1"
    with Emulator(token="demo-token", data_file=str(tmp_path / "emulator.json")) as emu:
        assert len(emu.records("contacts")) == 970
        assert len(emu.records("companies")) == 10 and len(emu.records("deals")) == 50
        # every customer is linked to the company its SQL row names, and to no other
        with sa.create_engine(f"sqlite:///{tmp_path / 'demo.db'}").connect() as conn:
            rows = conn.execute(sa.text("SELECT c.email, p.name FROM customers c JOIN companies p "
                                        "ON p.company_id = c.company_id")).all()
        company_of = {r["id"]: r["properties"]["name"] for r in emu.records("companies")}
        contact_of = {r["id"]: r["properties"]["email"] for r in emu.records("contacts")}
        linked = sorted((contact_of[f], company_of[t]) for f, t, _ in emu.associations("contacts", "companies"))
        valid = {email.strip().lower() for email in contact_of.values()}
        assert linked == sorted((e.strip().lower(), name) for e, name in rows if e.strip().lower() in valid)
        assert len(linked) == 940
        # deals: SQL holds stage labels in any case and two codes of the CRM team's own (stage_map)
        stage_ids = {"Appointment Scheduled": "appointmentscheduled", "qualified to buy": "qualifiedtobuy",
                     "Presentation Scheduled": "presentationscheduled", "WON": "closedwon", "LOST": "closedlost"}
        with sa.create_engine(f"sqlite:///{tmp_path / 'demo.db'}").connect() as conn:
            stages = dict(conn.execute(sa.text("SELECT CAST(deal_id AS TEXT), stage FROM deals")).all())
        deals = {r["properties"]["external_id"]: r["properties"] for r in emu.records("deals")}
        assert {k: (d["pipeline"], d["dealstage"]) for k, d in deals.items()} == {
            k: ("default", stage_ids[v]) for k, v in stages.items()}


def test_unreachable_hubspot_exits_3_with_one_line(project):
    env = {**project["env"], "HUBSPOT_BASE_URL": "http://127.0.0.1:9"}
    hubsync("init-db", env=env, cwd=project["cwd"])
    project["path"].write_text(project["path"].read_text().replace("max_attempts: 3", "max_attempts: 1"))
    result = hubsync("validate", env=env, cwd=project["cwd"])
    assert result.returncode == 3, result.stderr
    assert "HubSpot unreachable" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_validate_catches_values_hubspot_would_refuse_for_every_row(project):
    env, cwd, config = project["env"], project["cwd"], project["config"]
    hubsync("init-db", env=env, cwd=cwd)
    config["objects"][0]["fields"]["hs_lead_status"] = {"constant": "HOT"}
    config["objects"][0]["fields"]["lifecyclestage"]["transform"] = {"map": {"A": "cust", "P": "lead"}}
    config["objects"][0]["fields"]["lastnam"] = config["objects"][0]["fields"].pop("lastname")
    project["path"].write_text(yaml.safe_dump(config))
    result = hubsync("validate", env=env, cwd=cwd)
    text = " ".join(result.stderr.split())
    assert result.returncode == 2
    assert "objects[0].fields.hs_lead_status.constant: 'HOT' is not an option" in text
    assert "objects[0].fields.lifecyclestage.transform: 'cust' is not an option" in text
    assert "objects[0].fields.lastnam: property 'lastnam' does not exist on contacts (did you mean 'lastname'?)" in text


def test_watermark_kind_that_does_not_fit_the_column_is_caught_by_validate(project):
    env, cwd, config = project["env"], project["cwd"], project["config"]
    hubsync("init-db", env=env, cwd=cwd)
    config["objects"][0]["watermark"]["kind"] = "rowversion"
    project["path"].write_text(yaml.safe_dump(config))
    result = hubsync("validate", env=env, cwd=cwd)
    assert result.returncode == 2
    assert "objects[0].watermark.kind: column 'row_version'" in result.stderr and "use kind: integer" in result.stderr


def test_demo_commands_refuse_a_configuration_that_is_not_the_demo(project):
    before = project["engine"].url.database
    for args in (("demo", "init", "--force"), ("demo", "edit")):
        result = hubsync(*args, env=project["env"], cwd=project["cwd"])
        assert result.returncode == 2 and "demo: true" in result.stderr
    with project["engine"].connect() as conn:
        assert conn.execute(sa.text("select count(*) from customers")).scalar_one() == 60
    assert Path(before).exists()


def test_poison_commands_explain_empty_and_unknown(project):
    env, cwd = project["env"], project["cwd"]
    hubsync("init-db", env=env, cwd=cwd)
    assert "no parked batches" in hubsync("poison", "list", env=env, cwd=cwd).stdout
    missing = hubsync("poison", "replay", "--id", "99", env=env, cwd=cwd)
    assert missing.returncode == 2 and "no parked batch #99" in missing.stderr
    both = hubsync("poison", "replay", "--id", "1", "--all", env=env, cwd=cwd)
    assert both.returncode == 2


def test_inspect_shows_one_row_end_to_end(project, emulator):
    env, cwd = project["env"], project["cwd"]
    hubsync("init-db", env=env, cwd=cwd)
    hubsync("run", env=env, cwd=cwd)
    synced = hubsync("inspect", "5", env=env, cwd=cwd)
    assert synced.returncode == 0, synced.stderr
    contact = emulator.find("contacts", "email", "user5@example.com")
    assert f"HubSpot id {contact['id']}" in synced.stdout and "now: unchanged" in synced.stdout
    rejected = hubsync("inspect", "37", env=env, cwd=cwd)
    assert "now: rejected: email (column email): invalid email" in rejected.stdout
    wrong = hubsync("inspect", "1", "2", env=env, cwd=cwd)
    assert wrong.returncode == 2 and "give 1 value(s)" in wrong.stderr

"""Objects beyond contacts, end to end: SQL (SQLite, PostgreSQL) -> queue -> the emulator through the
official SDK. Companies matched on a custom unique property, deals and tickets whose pipelines and
stages are given by id, label or the source's own codes, and custom objects named by any of their
names. Expected HubSpot values are written out by hand."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from shared.errors import ConfigurationError
from shared.keys import key_to_json
from shared.sync.dry_run import preview
from shared.sync.preflight import preflight
from shared.sync.run import run_sync
from tests.e2e.test_full_reread import _queued_rows
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers, hubsync, update_customers

pytestmark = pytest.mark.e2e


def make_table(engine: sa.Engine, schema: str | None, name: str, columns: list[sa.Column],
               rows: list[dict[str, Any]]) -> str:
    """A source table with ``id`` as its key and ``row_version`` as its watermark; returns its name."""
    table = sa.Table(name, sa.MetaData(schema=schema), sa.Column("id", sa.Integer, primary_key=True,
                                                                 autoincrement=False),
                     *columns, sa.Column("row_version", sa.BigInteger, nullable=False))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [dict(r, id=i, row_version=i) for i, r in enumerate(rows, 1)])
    return f"{schema}.{name}" if schema else name


def sync_config(schema: str | None, *objects: dict[str, Any]) -> dict[str, Any]:
    data = config_dict(state_schema=f"{schema}_state" if schema else "hubsync")
    data["objects"] = list(objects)
    return data


def object_config(name: str, object_type: str, table: str, id_property: str, fields: dict[str, Any],
                  **extra: Any) -> dict[str, Any]:
    return {"name": name, "object_type": object_type, "table": table, "key": ["id"],
            "watermark": {"column": "row_version", "kind": "integer"}, "id_property": id_property,
            "fields": fields, **extra}


def by(emulator: Any, object_type: str, prop: str) -> dict[str, dict[str, str]]:
    """HubSpot's records of a type by one property's value (each value must name one record)."""
    records = [r["properties"] for r in emulator.records(object_type)]
    values = [r.get(prop) for r in records]
    assert len(values) == len(set(values)), f"two {object_type} records share {prop}: {values}"
    return {r.get(prop) or "": r for r in records}


def outcomes(rt: Any, name: str) -> dict[int, tuple[str, str | None]]:
    return {int(r.source_key.strip("[]")): (r.last_outcome, r.reason) for r in rt.state.all_records(name)}


# -- companies -------------------------------------------------------------------------------------

def test_companies_match_on_a_unique_property_and_rows_sharing_a_domain_are_both_created(source_db, emulator):
    engine, schema = source_db
    emulator.add_property("companies", {"name": "sql_company_id", "label": "SQL id", "type": "string",
                                        "fieldType": "text", "hasUniqueValue": True})
    rows = [{"name": "Acme East", "domain": "acme.com", "city": "Boston"},
            {"name": "Acme West", "domain": "acme.com", "city": "Seattle"},
            {"name": "Globex", "domain": "globex.com", "city": None}]
    table = make_table(engine, schema, "companies", [sa.Column("name", sa.String(100)),
                                                     sa.Column("domain", sa.String(100)),
                                                     sa.Column("city", sa.String(100))], rows)
    data = sync_config(schema, object_config(
        "companies", "companies", table, "sql_company_id",
        {"sql_company_id": {"column": "id", "transform": "string"}, "name": {"column": "name"},
         "domain": {"column": "domain"}, "city": {"column": "city"}}))
    rt = make_runtime(engine, emulator, config=data)

    first = run_sync(rt, base_backoff=0.01)

    hub = by(emulator, "companies", "sql_company_id")
    assert {k: (v["name"], v["domain"], v.get("city")) for k, v in hub.items()} == {
        "1": ("Acme East", "acme.com", "Boston"), "2": ("Acme West", "acme.com", "Seattle"),
        "3": ("Globex", "globex.com", None)}
    assert {k: v[0] for k, v in outcomes(rt, "companies").items()} == {1: "created", 2: "created", 3: "created"}
    upserts = [c for c in emulator.calls if c[1] == "/crm/v3/objects/companies/batch/upsert"]
    assert [status for _, _, status in upserts] == [200]  # one call for the three, matched on sql_company_id
    assert first.run["api_calls"] == 2  # the property schema, the upsert (no pipelines for companies)

    with engine.begin() as conn:  # a change to one of the two is written onto that one only
        conn.execute(sa.text(f"UPDATE {table} SET city = 'Portland', row_version = 10 WHERE id = 2"))
    run_sync(rt, base_backoff=0.01)
    hub = by(emulator, "companies", "sql_company_id")
    assert len(hub) == 3 and hub["2"]["city"] == "Portland" and hub["1"]["city"] == "Boston"


def test_contacts_match_emails_case_blind_while_a_companies_email_property_is_matched_exactly(source_db, emulator):
    engine, schema = source_db
    emulator.add_property("companies", {"name": "email", "label": "Billing email", "type": "string",
                                        "fieldType": "text", "hasUniqueValue": True})
    customers = create_customers(engine, 6, schema)
    update_customers(engine, customers, [2], email="Shared.Person@Example.com")
    update_customers(engine, customers, [5], email="shared.person@example.COM")
    table = make_table(engine, schema, "billing", [sa.Column("name", sa.String(100)),
                                                   sa.Column("email", sa.String(100))],
                       [{"name": "Upper", "email": "Ops@Acme.com"}, {"name": "Lower", "email": "ops@acme.com"},
                        {"name": "Other", "email": "billing@acme.com"}])
    contacts = config_dict(table=f"{schema}.customers" if schema else "customers")["objects"][0]
    data = sync_config(schema, contacts, object_config(
        "billing", "companies", table, "email", {"email": {"column": "email"}, "name": {"column": "name"}}))
    rt = make_runtime(engine, emulator, config=data)

    run_sync(rt, base_backoff=0.01)

    # contacts: the two spellings are one person; the lowest key keeps it, the other row is rejected
    people = [r for r in emulator.records("contacts") if r["properties"]["email"] == "shared.person@example.com"]
    assert [p["properties"]["firstname"] for p in people] == ["First2"]
    outcome, reason = outcomes(rt, "contacts")[5]
    assert outcome == "rejected" and "source key [2]" in (reason or "")
    # companies: two spellings are two values, both created as they are written
    hub = by(emulator, "companies", "email")
    assert {k: v["name"] for k, v in hub.items()} == {"Ops@Acme.com": "Upper", "ops@acme.com": "Lower",
                                                      "billing@acme.com": "Other"}
    assert {k: v[0] for k, v in outcomes(rt, "billing").items()} == {1: "created", 2: "created", 3: "created"}

    with engine.begin() as conn:  # a second run matches the same records again, exactly
        conn.execute(sa.text(f"UPDATE {table} SET name = name || '!', row_version = 10"))
    run_sync(rt, base_backoff=0.01)
    assert {k: v["name"] for k, v in by(emulator, "companies", "email").items()} == {
        "Ops@Acme.com": "Upper!", "ops@acme.com": "Lower!", "billing@acme.com": "Other!"}


# -- deals -----------------------------------------------------------------------------------------

DEAL_ROWS = [
    # (pipeline, stage) in the source            -> HubSpot's ids, or None: rejected
    ("Sales Pipeline", "Closed Won", ("default", "closedwon")),         # labels
    ("default", "qualifiedtobuy", ("default", "qualifiedtobuy")),       # ids
    ("Enterprise", "W", ("enterprise", "ent_won")),                     # stage_map W -> label in the row's pipeline
    ("default", "W", ("default", "closedwon")),
    ("sales pipeline", "LOST", ("default", "closedlost")),             # stage_map LOST -> id; label in any case
    ("S", "appointment scheduled", ("default", "appointmentscheduled")),  # pipeline_map S -> default
    ("default", "Closed Wonn", None),                                   # no such stage
    ("default", "ent_new", None),                                       # a stage of another pipeline
    ("Enterprize", "New", None),                                        # no such pipeline
]


def deals_setup(engine: sa.Engine, schema: str | None, emulator: Any) -> dict[str, Any]:
    emulator.add_property("deals", {"name": "sql_deal_id", "label": "SQL id", "type": "string",
                                    "fieldType": "text", "hasUniqueValue": True})
    emulator.add_pipeline("deals", "enterprise", "Enterprise", [("ent_new", "New"), ("ent_won", "Closed Won")])
    table = make_table(engine, schema, "deals", [sa.Column("title", sa.String(100)),
                                                 sa.Column("amount", sa.Numeric(12, 2)),
                                                 sa.Column("pipeline_name", sa.String(100)),
                                                 sa.Column("stage", sa.String(100))],
                       [{"title": f"Deal {i}", "amount": i * 100, "pipeline_name": p, "stage": s}
                        for i, (p, s, _) in enumerate(DEAL_ROWS, 1)])
    return sync_config(schema, object_config(
        "deals", "deals", table, "sql_deal_id",
        {"sql_deal_id": {"column": "id", "transform": "string"}, "dealname": {"column": "title"},
         "amount": {"column": "amount", "transform": "number"}, "pipeline": {"column": "pipeline_name"},
         "dealstage": {"column": "stage"}},
        stage_map={"W": "Closed Won", "LOST": "closedlost"}, pipeline_map={"S": "default"}))


def test_deal_stages_resolve_by_label_id_and_map_and_bad_ones_are_rejected_while_the_rest_syncs(source_db, emulator):
    engine, schema = source_db
    data = deals_setup(engine, schema, emulator)
    rt = make_runtime(engine, emulator, config=data)

    result = run_sync(rt, base_backoff=0.01)

    hub = by(emulator, "deals", "sql_deal_id")
    expected = {str(i): ids for i, (_, _, ids) in enumerate(DEAL_ROWS, 1) if ids}
    assert {k: (v["pipeline"], v["dealstage"]) for k, v in hub.items()} == expected
    assert hub["3"]["dealname"] == "Deal 3" and hub["3"]["amount"] == "300"
    seen = outcomes(rt, "deals")
    assert {i for i, (outcome, _) in seen.items() if outcome == "created"} == {1, 2, 3, 4, 5, 6}
    unknown, elsewhere, no_pipeline = seen[7], seen[8], seen[9]
    assert unknown[0] == elsewhere[0] == no_pipeline[0] == "rejected"
    assert "'Closed Wonn' is not a stage of pipeline 'default' (Sales Pipeline)" in unknown[1]
    assert "closedwon (Closed Won)" in unknown[1] and "stage_map of object 'deals'" in unknown[1]
    assert ("'ent_new' is a stage of pipeline 'enterprise' (Enterprise), not of the row's pipeline 'default'"
            in elsewhere[1])
    assert "'Enterprize' is neither the id nor the label of a deals pipeline" in no_pipeline[1]
    assert "'enterprise' (Enterprise)" in no_pipeline[1] and "pipeline_map of object 'deals'" in no_pipeline[1]
    # the bad rows never reached HubSpot: one upsert for the six, no batch refused and split
    upserts = [c for c in emulator.calls if c[1] == "/crm/v3/objects/deals/batch/upsert"]
    assert [status for _, _, status in upserts] == [200]
    assert result.run["api_calls"] == 3  # properties, pipelines, one upsert

    second = run_sync(rt, base_backoff=0.01)  # nothing changed: nothing is sent, pipelines stay cached
    assert second.run["api_calls"] == 0


def test_the_plan_of_deals_shows_the_resolved_ids_and_the_rejections_a_run_would_make(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    rt = make_runtime(engine, emulator, config=deals_setup(engine, None, emulator))

    plan = preview(rt, rt.config.objects[0], rt.schemas.get("deals"), sample=10)

    assert plan.counts.created == 6 and plan.counts.rejected == 3
    assert sorted(key for key, _ in plan.rejections) == [key_to_json([7]), key_to_json([8]), key_to_json([9])]
    stages = {s.source_key: (s.changes["pipeline"][1], s.changes["dealstage"][1]) for s in plan.samples}
    assert stages == {key_to_json([i]): ids for i, (_, _, ids) in enumerate(DEAL_ROWS, 1) if ids}
    assert emulator.records("deals") == []


def test_a_full_reread_skips_unchanged_deals_until_the_portals_pipelines_change(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    data = deals_setup(engine, None, emulator)
    run_sync(make_runtime(engine, emulator, config=data), base_backoff=0.01)
    rejected = sum(1 for *_, ids in DEAL_ROWS if ids is None)

    same = make_runtime(engine, emulator, config=data)
    again = run_sync(same, full=True, base_backoff=0.01)
    assert _queued_rows(same, again.plan.run_id) == rejected  # the synced rows hash as before: not queued

    # a label may now mean another stage: every row is mapped again (and, its ids unchanged, not sent)
    emulator.add_pipeline("deals", "partners", "Partners", [("partner_new", "New")])
    changed_rt = make_runtime(engine, emulator, config=data)
    upserts = len([c for c in emulator.calls if c[1].endswith("/batch/upsert")])
    changed = run_sync(changed_rt, full=True, base_backoff=0.01)
    assert _queued_rows(changed_rt, changed.plan.run_id) == len(DEAL_ROWS)
    assert changed.run["unchanged"] == len(DEAL_ROWS) - rejected
    assert len([c for c in emulator.calls if c[1].endswith("/batch/upsert")]) == upserts


def test_validate_names_each_wrong_stage_setting_and_accepts_labels(source_db, emulator):
    engine, schema = source_db
    data = deals_setup(engine, schema, emulator)
    obj = data["objects"][0]
    obj["fields"]["pipeline"] = {"constant": "Sales Pipeline"}
    rt = make_runtime(engine, emulator, config=data)
    assert set(preflight(rt, rt.config.objects)) == {"deals"}  # labels and codes are no INVALID_OPTION

    obj["stage_map"] = {"W": "Closed Won", "E": "ent_won", "X": "Closd Won"}
    obj["fields"]["pipeline"] = {"constant": "Sales Pipeline"}
    obj["fields"]["amount"] = {"constant": "12"}
    rt = make_runtime(engine, emulator, config=data)
    with pytest.raises(ConfigurationError) as err:
        preflight(rt, rt.config.objects)
    assert [p.split(":")[0] for p in err.value.problems] == ["objects[0].stage_map.E", "objects[0].stage_map.X"]
    assert "'ent_won' is not a stage of pipeline 'default' (Sales Pipeline)" in err.value.problems[0]

    obj["fields"]["pipeline"] = {"constant": "Sales Pipe"}
    obj["stage_map"] = {}
    rt = make_runtime(engine, emulator, config=data)
    with pytest.raises(ConfigurationError) as err:
        preflight(rt, rt.config.objects)
    [problem] = err.value.problems
    assert problem.startswith("objects[0].fields.pipeline.constant: 'Sales Pipe' is neither the id nor the label")


# -- tickets ---------------------------------------------------------------------------------------

def test_tickets_take_their_pipeline_from_a_constant_and_stages_by_label_or_code(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    emulator.add_property("tickets", {"name": "sql_ticket_id", "label": "SQL id", "type": "string",
                                      "fieldType": "text", "hasUniqueValue": True})
    table = make_table(engine, None, "tickets", [sa.Column("subject", sa.String(100)),
                                                 sa.Column("status", sa.String(40))],
                       [{"subject": "Printer", "status": "New"}, {"subject": "Login", "status": "waiting on us"},
                        {"subject": "Refund", "status": "C"}, {"subject": "Noise", "status": "Escalated"},
                        {"subject": "Numbers", "status": "2"}])
    data = sync_config(None, object_config(
        "tickets", "tickets", table, "sql_ticket_id",
        {"sql_ticket_id": {"column": "id", "transform": "string"}, "subject": {"column": "subject"},
         "hs_pipeline": {"constant": "Support Pipeline"}, "hs_pipeline_stage": {"column": "status"}},
        stage_map={"C": "Closed", "2": "1"}))
    rt = make_runtime(engine, emulator, config=data)
    preflight(rt, rt.config.objects, require_state=False)

    run_sync(rt, base_backoff=0.01)

    hub = by(emulator, "tickets", "sql_ticket_id")
    assert {k: (v["subject"], v["hs_pipeline"], v["hs_pipeline_stage"]) for k, v in hub.items()} == {
        "1": ("Printer", "0", "1"), "2": ("Login", "0", "3"), "3": ("Refund", "0", "4"),
        "5": ("Numbers", "0", "1")}  # the map's "2" wins over stage id 2
    outcome, reason = outcomes(rt, "tickets")[4]
    assert outcome == "rejected"
    assert reason == ("hs_pipeline_stage: 'Escalated' is not a stage of pipeline '0' (Support Pipeline); its "
                      "stages: 1 (New), 2 (Waiting on contact), 3 (Waiting on us), 4 (Closed); fix the row, or map "
                      "the value in stage_map of object 'tickets'")


# -- custom objects --------------------------------------------------------------------------------

@pytest.mark.parametrize("object_type", ["p_cars", "p12345678_cars", "2-1"])
def test_a_custom_object_syncs_whichever_of_its_names_the_configuration_uses(source_db, emulator, object_type):
    engine, schema = source_db
    emulator.add_schema("cars", properties=["vin", "model", {"name": "doors", "type": "number",
                                                             "fieldType": "number"}],
                        required=["vin"], unique=["vin"])
    table = make_table(engine, schema, "cars", [sa.Column("vin", sa.String(40)), sa.Column("model", sa.String(40)),
                                                sa.Column("doors", sa.Integer)],
                       [{"vin": "VIN-A", "model": "Beetle", "doors": 2}, {"vin": "vin-a", "model": "Golf", "doors": 5}])
    data = sync_config(schema, object_config(
        "cars", object_type, table, "vin",
        {"vin": {"column": "vin"}, "model": {"column": "model"}, "doors": {"column": "doors", "transform": "number"}}))
    rt = make_runtime(engine, emulator, config=data)
    preflight(rt, rt.config.objects)

    run_sync(rt, base_backoff=0.01)

    hub = by(emulator, "p_cars", "vin")
    assert {k: (v["model"], v["doors"]) for k, v in hub.items()} == {"VIN-A": ("Beetle", "2"), "vin-a": ("Golf", "5")}
    object_paths = {path for _, path, _ in emulator.calls if path.startswith(("/crm/v3/objects/", "/crm/v3/properties/"))}
    assert object_paths, "nothing was sent"
    sent_as = "2-1" if object_type == "2-1" else "p12345678_cars"  # the short name is not an API name
    assert all(sent_as in path and "p_cars" not in path for path in object_paths), object_paths


def test_a_custom_object_named_by_its_short_name_is_associated_under_its_api_name(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    emulator.add_schema("cars", properties=["vin", "model"], required=["vin"], unique=["vin"])
    emulator.add_property("companies", {"name": "sql_company_id", "type": "string", "hasUniqueValue": True})
    companies = make_table(engine, None, "companies", [sa.Column("name", sa.String(100))],
                           [{"name": "Fleet A"}, {"name": "Fleet B"}])
    cars = make_table(engine, None, "cars", [sa.Column("vin", sa.String(40)), sa.Column("owner_id", sa.Integer)],
                      [{"vin": "V1", "owner_id": 2}, {"vin": "V2", "owner_id": 1}, {"vin": "V3", "owner_id": None}])
    data = sync_config(None, object_config("cars", "p_cars", cars, "vin", {"vin": {"column": "vin"}},
                                           associations=[{"to": "fleet", "column": "owner_id"}]),
                       object_config("fleet", "companies", companies, "sql_company_id",
                                     {"sql_company_id": {"column": "id", "transform": "string"},
                                      "name": {"column": "name"}}))
    rt = make_runtime(engine, emulator, config=data)
    preflight(rt, rt.config.objects)

    run_sync(rt, base_backoff=0.01)

    car_ids = {r["properties"]["vin"]: r["id"] for r in emulator.records("p_cars")}
    fleet_ids = {r["properties"]["name"]: r["id"] for r in emulator.records("companies")}
    linked = {(f, t) for f, t, _ in emulator.associations("p_cars", "companies")}
    assert linked == {(car_ids["V1"], fleet_ids["Fleet B"]), (car_ids["V2"], fleet_ids["Fleet A"])}
    assert not [path for _, path, _ in emulator.calls if "p_cars" in path]


def test_validate_reports_an_unknown_custom_object_and_unmapped_required_properties(project, emulator):
    env, cwd, config = project["env"], project["cwd"], project["config"]
    emulator.add_schema("cars", properties=["vin", "model"], required=["vin", "model"], unique=["vin"])
    hubsync("init-db", env=env, cwd=cwd)
    config["objects"][0]["object_type"] = "p_trucks"
    project["path"].write_text(yaml.safe_dump(config))

    result = hubsync("validate", env=env, cwd=cwd)

    text = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr
    assert ("objects[0].object_type: HubSpot has no custom object 'p_trucks'; the portal's custom objects: "
            "p12345678_cars (p_cars, 2-1)") in text

    config["objects"][0]["object_type"] = "p12345678_cars"
    config["objects"][0]["id_property"] = "vin"
    config["objects"][0]["fields"] = {"vin": {"column": "email"}}
    project["path"].write_text(yaml.safe_dump(config))
    result = hubsync("validate", env=env, cwd=cwd)
    text = " ".join(result.stderr.split())
    assert result.returncode == 2
    assert "objects[0].fields: p12345678_cars requires model (requiredProperties of its schema)" in text

    config["objects"][0]["fields"]["model"] = {"column": "last_name"}
    project["path"].write_text(yaml.safe_dump(config))
    assert hubsync("validate", env=env, cwd=cwd).returncode == 0


"""Associations from SQL foreign keys (shared/sync/linker.py), through the real emulator's v4
endpoints with the official SDK, on SQLite and PostgreSQL.

The expected links are computed here from the SQL rows and the emulator's records, never with
hubsync's code: every contact whose company_id names a company row that HubSpot has is linked to
exactly that company, with the default type; nothing else is linked but what a person linked by
hand; no record is made twice."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from shared.state import LinkState
from shared.sync.linker import LinkCounts, Linker
from shared.sync.run import run_sync
from tests.e2e.test_convergence import _runtime

CONTACT_TO_COMPANY = 279  # HubSpot's default type id (shared/hubspot-api.md)
DEAL_TO_COMPANY = 341


def _tables(engine: sa.Engine, schema: str | None) -> dict[str, sa.Table]:
    md = sa.MetaData(schema=schema)
    companies = sa.Table("companies", md, sa.Column("company_id", sa.Integer, primary_key=True),
                         sa.Column("name", sa.String(100)), sa.Column("domain", sa.String(100)),
                         sa.Column("row_version", sa.BigInteger, nullable=False))
    people = sa.Table("people", md, sa.Column("person_id", sa.Integer, primary_key=True),
                      sa.Column("email", sa.String(200)), sa.Column("first_name", sa.String(100)),
                      sa.Column("company_id", sa.Integer), sa.Column("row_version", sa.BigInteger, nullable=False))
    deals = sa.Table("deals", md, sa.Column("deal_id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String(100)), sa.Column("company_id", sa.Integer),
                     sa.Column("row_version", sa.BigInteger, nullable=False))
    md.create_all(engine)
    return {"companies": companies, "people": people, "deals": deals}


def _objects(schema: str | None, remove_stale: bool = True) -> list[dict]:
    prefix = f"{schema}." if schema else ""
    return [
        {"name": "people", "object_type": "contacts", "table": f"{prefix}people", "key": ["person_id"],
         "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "email",
         "fields": {"email": {"column": "email", "transform": ["trim", "email"], "required": True},
                    "firstname": {"column": "first_name"}},
         "associations": [{"to": "companies", "column": "company_id", "remove_stale": remove_stale}]},
        {"name": "deals", "object_type": "deals", "table": f"{prefix}deals", "key": ["deal_id"],
         "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "sql_deal_id",
         "fields": {"sql_deal_id": {"column": "deal_id", "transform": "string"},
                    "dealname": {"column": "name", "required": True}},
         "associations": [{"to": "companies", "column": "company_id"}]},
        {"name": "companies", "object_type": "companies", "table": f"{prefix}companies", "key": ["company_id"],
         "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "sql_company_id",
         "fields": {"sql_company_id": {"column": "company_id", "transform": "string"},
                    "name": {"column": "name", "required": True}, "domain": {"column": "domain"}}},
    ]


def _portal(emulator) -> None:
    for object_type, prop in (("companies", "sql_company_id"), ("deals", "sql_deal_id")):
        emulator.add_property(object_type, {"name": prop, "type": "string", "fieldType": "text",
                                            "hasUniqueValue": True})


def _setup(source_db, emulator, remove_stale: bool = True, **overrides):
    engine, schema = source_db
    tables = _tables(engine, schema)
    _portal(emulator)
    rt = _runtime(engine, emulator, state_schema=f"{schema}_state" if schema else "hubsync",
                  objects=_objects(schema, remove_stale), **overrides)
    return engine, tables, rt


def _fill(engine, tables, companies, people, deals=()) -> None:
    with engine.begin() as conn:
        if companies:
            conn.execute(tables["companies"].insert(), [
                {"company_id": c, "name": name, "domain": domain, "row_version": 1} for c, name, domain in companies])
        if people:
            conn.execute(tables["people"].insert(), [
                {"person_id": p, "email": email, "first_name": f"P{p}", "company_id": c, "row_version": 1}
                for p, email, c in people])
        if deals:
            conn.execute(tables["deals"].insert(), [
                {"deal_id": d, "name": f"Deal {d}", "company_id": c, "row_version": 1} for d, c in deals])


def _expected_links(engine, tables, emulator, fk_table: str, from_type: str, from_prop: str, from_col: str) -> set:
    """(from id, company id) HubSpot must hold: from the SQL rows and the emulator's records."""
    companies = {str(r["properties"].get("sql_company_id")): r["id"] for r in emulator.records("companies")}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tables[fk_table])).mappings().all()
    expected = set()
    for row in rows:
        if row["company_id"] is None or str(row["company_id"]) not in companies:
            continue
        value = row[from_col].strip().lower() if from_prop == "email" else str(row[from_col])
        record = emulator.find(from_type, from_prop, value)
        if record is not None:
            expected.add((record["id"], companies[str(row["company_id"])]))
    return expected


def _links(emulator, from_type: str, type_id: int) -> list[tuple[str, str]]:
    return sorted((f, t) for f, t, tid in emulator.associations(from_type, "companies") if tid == type_id)


def _link_states(rt, object_name: str) -> dict[str, LinkState]:
    keys = [f"[{i}]" for i in range(1, 1000)]
    return {k: v for (k, _), v in rt.state.links_of(object_name, keys).items()}


def test_every_declared_link_is_made_in_one_run_and_pending_ones_explain_themselves(source_db, emulator):
    engine, tables, rt = _setup(source_db, emulator)
    companies = [(c, f"Company {c}", "shared.example") for c in range(1, 41)]  # one domain for all: not a match key
    companies.append((41, None, "broken.example"))  # rejected: its required name is empty
    people = [(p, f" Person{p}@Example.COM ", (p % 40) + 1) for p in range(1, 201)]
    people += [(201, "nofirm@example.com", None),  # no company: no link
               (202, "ghost@example.com", 999),  # a company row that does not exist
               (203, "broken@example.com", 41)]  # a company that was rejected
    deals = [(d, (d % 7) + 1) for d in range(1, 31)]
    _fill(engine, tables, companies, people, deals)

    result = run_sync(rt, workers=4)

    assert len(emulator.records("companies")) == 40  # same domain, 40 companies: matched on sql_company_id
    assert len(emulator.records("contacts")) == 203
    expected = _expected_links(engine, tables, emulator, "people", "contacts", "email", "email")
    assert len(expected) == 200
    assert _links(emulator, "contacts", CONTACT_TO_COMPANY) == sorted(expected)
    expected_deals = _expected_links(engine, tables, emulator, "deals", "deals", "sql_deal_id", "deal_id")
    assert len(expected_deals) == 30
    assert _links(emulator, "deals", DEAL_TO_COMPANY) == sorted(expected_deals)
    assert result.run["linked"] == 230

    states = _link_states(rt, "people")
    assert states["[201]"].status == "none"
    assert states["[202]"].status == "pending" and "no row with key [999]" in states["[202]"].reason
    assert states["[203]"].status == "pending" and "was rejected" in states["[203]"].reason
    assert "name" in states["[203]"].reason  # the company's own rejection reason
    assert {s.status for k, s in states.items() if k not in ("[201]", "[202]", "[203]")} == {"made"}

    # nothing changed: a second run makes no association call
    calls = len(emulator.calls_of("associations"))
    again = run_sync(rt, workers=2)
    assert again.run["linked"] == 0
    assert len(emulator.calls_of("associations")) == calls


@pytest.mark.parametrize("by", ["the target's batch", "the run's sweep"])
def test_links_wait_for_companies_synced_later_and_are_made_then(source_db, emulator, monkeypatch, by):
    """Either mechanism alone makes the waiting links: the batch that gives the companies their
    ids, and the sweep at the end of the run (for a company written between a contact batch's
    look-up and its commit)."""
    engine, tables, rt = _setup(source_db, emulator)
    if by == "the target's batch":
        monkeypatch.setattr(Linker, "sweep", lambda self, run_id=None: LinkCounts())
    else:
        monkeypatch.setattr(Linker, "link_targets", lambda self, obj, run_id, ids: LinkCounts())
    _fill(engine, tables, [(c, f"Company {c}", None) for c in range(1, 6)],
          [(p, f"p{p}@example.com", (p % 5) + 1) for p in range(1, 51)])

    first = run_sync(rt, objects=["people"], workers=2)  # the companies are not synced yet

    assert first.run["created"] == 50 and first.run["linked"] == 0
    assert emulator.associations("contacts", "companies") == []
    assert {s.status for s in _link_states(rt, "people").values()} == {"pending"}

    second = run_sync(rt, objects=["companies"], workers=2)  # their batch makes the waiting links

    assert second.run["created"] == 5
    assert second.run["linked"] == 50
    expected = _expected_links(engine, tables, emulator, "people", "contacts", "email", "email")
    assert len(expected) == 50
    assert _links(emulator, "contacts", CONTACT_TO_COMPANY) == sorted(expected)
    assert {s.status for s in _link_states(rt, "people").values()} == {"made"}


def test_a_moved_foreign_key_moves_the_link_and_leaves_hand_made_links_alone(source_db, emulator):
    engine, tables, rt = _setup(source_db, emulator)
    _fill(engine, tables, [(c, f"Company {c}", None) for c in range(1, 5)],
          [(1, "a@example.com", 1), (2, "b@example.com", 2), (3, "c@example.com", 3)])
    run_sync(rt, workers=2)
    company = {str(r["properties"]["sql_company_id"]): r["id"] for r in emulator.records("companies")}
    contact = {r["properties"]["email"]: r["id"] for r in emulator.records("contacts")}
    emulator.associate("contacts", contact["c@example.com"], "companies", company["4"])  # a person's own link

    with engine.begin() as conn:
        people = tables["people"]
        conn.execute(people.update().where(people.c.person_id == 1).values(company_id=2, row_version=2))
        conn.execute(people.update().where(people.c.person_id == 2).values(company_id=None, row_version=2))
        conn.execute(people.update().where(people.c.person_id == 3).values(company_id=None, row_version=2))
    moved = run_sync(rt, workers=2)

    assert moved.run["unlinked"] == 3 and moved.run["linked"] == 1
    assert _links(emulator, "contacts", CONTACT_TO_COMPANY) == sorted([
        (contact["a@example.com"], company["2"]),  # moved from company 1
        (contact["c@example.com"], company["4"]),  # made by hand: never hubsync's to remove
    ])


def test_without_remove_stale_a_moved_key_adds_the_new_link_and_keeps_the_old(source_db, emulator):
    engine, tables, rt = _setup(source_db, emulator, remove_stale=False)
    _fill(engine, tables, [(1, "One", None), (2, "Two", None)], [(1, "a@example.com", 1)])
    run_sync(rt, workers=1)
    with engine.begin() as conn:
        people = tables["people"]
        conn.execute(people.update().where(people.c.person_id == 1).values(company_id=2, row_version=2))
    moved = run_sync(rt, workers=1)

    company = {str(r["properties"]["sql_company_id"]): r["id"] for r in emulator.records("companies")}
    contact = emulator.find("contacts", "email", "a@example.com")["id"]
    assert moved.run["unlinked"] == 0 and moved.run["linked"] == 1
    assert _links(emulator, "contacts", CONTACT_TO_COMPANY) == sorted([(contact, company["1"]), (contact, company["2"])])


def test_validate_names_an_association_label_the_portal_does_not_have(source_db, emulator):
    from shared.errors import ConfigurationError
    from shared.sync.preflight import preflight

    engine, schema = source_db
    _tables(engine, schema)
    _portal(emulator)
    objects = _objects(schema)
    objects[0]["associations"][0]["label"] = "Billing contact"
    rt = _runtime(engine, emulator, state_schema=f"{schema}_state" if schema else "hubsync", objects=objects)
    with pytest.raises(ConfigurationError) as err:
        preflight(rt, rt.config.objects)
    assert ("objects[0].associations[0].label: HubSpot has no association label 'Billing contact' from contacts "
            "to companies") in str(err.value)

    emulator.add_association_label("contacts", "companies", "Billing contact")
    preflight(rt, rt.config.objects)  # now it resolves


def test_a_link_waiting_for_a_company_that_is_then_rejected_says_so(source_db, emulator):
    """The linking batch saw the company not synced yet; the company's batch then rejected it. The
    run's sweep puts the company's reason on the waiting link (it was a race within one run)."""
    engine, tables, rt = _setup(source_db, emulator)
    _fill(engine, tables, [(1, None, "x.example")], [(1, "a@example.com", 1)])
    run_sync(rt, objects=["people"], workers=1)
    assert "has no HubSpot id yet" in _link_states(rt, "people")["[1]"].reason

    run_sync(rt, objects=["companies"], workers=1)

    link = _link_states(rt, "people")["[1]"]
    assert link.status == "pending"
    assert link.reason.startswith("companies row [1] was rejected: name") and "required" in link.reason


def test_links_converge_under_faults_and_moving_keys(pg_engine, pg_schema, emulator, monkeypatch):
    """Faults on a share of the association and upsert calls, the state database dropping
    the connection once between HubSpot's answer to an association call and its save, foreign
    keys moving and becoming
    NULL between runs (remove_stale on), companies arriving after their contacts. When the runs
    quiesce, HubSpot holds exactly the links SQL names: none missing, none stray, none twice."""
    import random

    from shared.errors import SourceUnavailable
    from shared.state.associations import Associations

    rnd = random.Random(int(os.environ.get("HUBSYNC_CHAOS_SEED") or 7))
    engine, tables, rt = _setup((pg_engine, pg_schema), emulator,  # a failed batch comes back after 1 s
                                queue={"backend": "memory", "max_dequeue_count": 3, "visibility_timeout_seconds": 1})
    _fill(engine, tables, [(c, f"Company {c}", None) for c in range(1, 21)],
          [(p, f"p{p}@example.com", rnd.choice([None, *range(1, 26)])) for p in range(1, 301)],  # 21-25: no such row
          [(d, rnd.randrange(1, 21)) for d in range(1, 41)])
    with engine.begin() as conn:  # companies 15-20 appear only later
        conn.execute(tables["companies"].delete().where(tables["companies"].c.company_id > 14))

    killed = {"done": False, "armed": True}
    real_save = Associations.save_links

    def save_or_die(self, links, expected=None):
        if killed["armed"] and not killed["done"] and any(link.status == "made" for link in links):
            killed["done"] = True
            raise SourceUnavailable("the state database dropped the connection")
        return real_save(self, links, expected)

    monkeypatch.setattr(Associations, "save_links", save_or_die)
    version = 2
    for round_ in range(4):
        # link writes and removals (the label reads are made once, at the start); no 429 here: a 429
        # pauses every caller for HubSpot's window (30 s), tests/e2e/test_chaos.py covers it
        for _ in range(4):
            emulator.inject_fault(rnd.choice([503, 500, 502, 504]), path_contains="/batch/create")
            emulator.inject_fault(rnd.choice([503, 500, 502, 504]), path_contains="/batch/labels/archive")
        for _ in range(3):
            emulator.inject_fault(rnd.choice([503, 500, 502]), path_contains="batch/upsert")
        run_sync(rt, workers=3, base_backoff=0.01, give_up_after=1000)
        with engine.begin() as conn:  # the next round's changes
            people = tables["people"]
            for pid in rnd.sample(range(1, 301), 40):
                conn.execute(people.update().where(people.c.person_id == pid)
                             .values(company_id=rnd.choice([None, *range(1, 21)]), row_version=version))
            if round_ == 1:
                conn.execute(tables["companies"].insert(), [
                    {"company_id": c, "name": f"Company {c}", "domain": None, "row_version": version}
                    for c in range(15, 21)])
            version += 1
    emulator.clear_faults()
    killed["armed"] = False
    for parked in rt.state.list_poison():  # batches parked by the fault storms, replayed as an operator would
        assert rt.handler().handle(parked["body"], 1, park=False) in ("done", "deferred")
        rt.state.mark_replayed(parked["id"])
    for _ in range(2):  # quiesce: no faults, until nothing is left to do
        run_sync(rt, workers=3)

    assert killed["done"]
    assert len(emulator.records("contacts")) == 300 and len(emulator.records("companies")) == 20
    assert len(emulator.records("deals")) == 40
    expected = _expected_links(engine, tables, emulator, "people", "contacts", "email", "email")
    have = set(_links(emulator, "contacts", CONTACT_TO_COMPANY))
    by_contact = {r["id"]: r["properties"]["email"] for r in emulator.records("contacts")}
    states_now = _link_states(rt, "people")
    for f, t in sorted(expected ^ have):
        pid = by_contact[f][1:].split("@")[0]
        print("DIFF", "missing" if (f, t) in expected else "stray", f, t, states_now.get(f"[{pid}]"))
    assert _links(emulator, "contacts", CONTACT_TO_COMPANY) == sorted(expected)  # none stray, none missing
    expected_deals = _expected_links(engine, tables, emulator, "deals", "deals", "sql_deal_id", "deal_id")
    assert _links(emulator, "deals", DEAL_TO_COMPANY) == sorted(expected_deals)
    states = _link_states(rt, "people")
    with engine.connect() as conn:
        fks = dict(conn.execute(sa.select(tables["people"].c.person_id, tables["people"].c.company_id)).all())
    for pid, fk in fks.items():
        link = states[f"[{pid}]"]
        if fk is None:
            assert link.status in ("none", "removed"), (pid, link)
        elif fk > 20:
            assert link.status == "pending" and f"no row with key [{fk}]" in link.reason, (pid, link)
        else:
            assert link.status == "made", (pid, link)


def test_a_sweep_racing_the_rows_own_batch_leaves_no_stray_link(source_db, emulator, monkeypatch):
    """The sweep makes a waiting link (contact 1 -> company 1) while the contact's own batch, its
    foreign key just moved to company 2, decides the link anew. Whoever saves second sees the
    other's decision: the sweep's link, which nobody wants now, is removed from HubSpot."""
    engine, tables, rt = _setup(source_db, emulator)
    _fill(engine, tables, [(1, "One", None), (2, "Two", None)], [(1, "a@example.com", 1)])
    run_sync(rt, objects=["people"], workers=1)  # company 1 has no id yet: the link waits
    with monkeypatch.context() as m:  # the companies are synced without making the waiting link
        m.setattr(Linker, "sweep", lambda self, run_id=None: LinkCounts())
        m.setattr(Linker, "link_targets", lambda self, obj, run_id, ids: LinkCounts())
        run_sync(rt, objects=["companies"], workers=1)
    assert emulator.associations("contacts", "companies") == []

    real_associate = rt.writer.associate
    raced = []

    def associate_then_race(*args, **kwargs):
        refused = real_associate(*args, **kwargs)
        if not raced:  # between the sweep's HubSpot call and its save, the row moves and syncs
            raced.append(True)
            with engine.begin() as conn:
                people = tables["people"]
                conn.execute(people.update().where(people.c.person_id == 1).values(company_id=2, row_version=2))
            run_sync(rt, objects=["people"], workers=1)
        return refused

    monkeypatch.setattr(rt.writer, "associate", associate_then_race)
    rt.worker().linker.sweep()

    company = {str(r["properties"]["sql_company_id"]): r["id"] for r in emulator.records("companies")}
    contact = emulator.find("contacts", "email", "a@example.com")["id"]
    assert raced
    assert _links(emulator, "contacts", CONTACT_TO_COMPANY) == [(contact, company["2"])]
    link = _link_states(rt, "people")["[1]"]
    assert (link.status, link.to_key, link.to_id) == ("made", "[2]", company["2"])


def test_a_link_hubspot_refuses_is_failed_with_its_reason_and_the_rest_are_made(source_db, emulator):
    """A company deleted in HubSpot after it synced: HubSpot refuses the links to it (207, the
    record named); those rows' links are failed with HubSpot's reason, the others are made."""
    import json
    import urllib.request

    from shared.cli.ops_commands import _grouped_problems
    from tests.conftest import TOKEN

    engine, tables, rt = _setup(source_db, emulator)
    _fill(engine, tables, [(1, "One", None), (2, "Two", None)], [])
    run_sync(rt, objects=["companies"], workers=1)
    gone = emulator.find("companies", "sql_company_id", "1")["id"]
    request = urllib.request.Request(
        f"{emulator.base_url}/crm/v3/objects/companies/batch/archive", method="POST",
        data=json.dumps({"inputs": [{"id": gone}]}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    urllib.request.urlopen(request).close()
    _fill(engine, tables, [], [(1, "a@example.com", 1), (2, "b@example.com", 2), (3, "c@example.com", 1)])

    result = run_sync(rt, objects=["people"], workers=1)

    assert result.run["linked"] == 1
    states = _link_states(rt, "people")
    assert states["[2]"].status == "made"
    for key in ("[1]", "[3]"):
        assert states[key].status == "failed" and "OBJECT_NOT_FOUND" in states[key].reason
        assert gone in states[key].reason
    contact_b = emulator.find("contacts", "email", "b@example.com")["id"]
    assert [f for f, _ in _links(emulator, "contacts", CONTACT_TO_COMPANY)] == [contact_b]
    problems = [p for p in _grouped_problems(rt) if p["outcome"].startswith("association")]
    assert problems and problems[0]["outcome"] == "association to companies failed" and problems[0]["count"] == 2


def test_a_labelled_association_is_made_with_the_portals_label_type(source_db, emulator):
    engine, schema = source_db
    tables = _tables(engine, schema)
    _portal(emulator)
    label = emulator.add_association_label("contacts", "companies", "Billing contact")
    objects = _objects(schema)
    objects[0]["associations"][0]["label"] = "billing CONTACT"  # labels match whatever their case
    rt = _runtime(engine, emulator, state_schema=f"{schema}_state" if schema else "hubsync", objects=objects)
    _fill(engine, tables, [(1, "One", None)], [(1, "a@example.com", 1)])

    run_sync(rt, workers=1)

    contact = emulator.find("contacts", "email", "a@example.com")["id"]
    company = emulator.find("companies", "sql_company_id", "1")["id"]
    assert (contact, company, label["typeId"]) in emulator.associations("contacts", "companies")
    assert _link_states(rt, "people")["[1]"].type_id == f"USER_DEFINED:{label['typeId']}"


def test_plan_counts_links_to_make_to_remove_and_to_wait_for_and_writes_nothing(source_db, emulator):
    from shared.sync.dry_run import preview

    engine, tables, rt = _setup(source_db, emulator)
    _fill(engine, tables, [(1, "One", None), (2, "Two", None)],
          [(1, "a@example.com", 1), (2, "b@example.com", 2), (3, "c@example.com", 7), (4, "d@example.com", None)])
    run_sync(rt, objects=["companies"], workers=1)
    run_sync(rt, objects=["people"], workers=1)
    with engine.begin() as conn:  # 1 moves to company 2; 2 loses its company; 5 is new
        people = tables["people"]
        conn.execute(people.update().where(people.c.person_id == 1).values(company_id=2, row_version=2))
        conn.execute(people.update().where(people.c.person_id == 2).values(company_id=None, row_version=2))
        conn.execute(people.insert().values(person_id=5, email="e@example.com", company_id=9, row_version=2))
    calls = len(emulator.calls)

    obj = rt.config.object("people")
    plan = preview(rt, obj, rt.schemas.get("contacts"))

    # make: 1 -> company 2; remove (remove_stale): 1's and 2's old links; wait: 5 -> company 9 (no such row)
    assert (plan.counts.linked, plan.counts.unlinked, plan.counts.link_pending) == (1, 2, 1)
    assert [c for c in emulator.calls[calls:] if c[0] == "POST" and "/batch/read" not in c[1]] == []


def test_many_contacts_of_one_deal_from_the_contacts_foreign_key(source_db, emulator):
    """deal -> contacts is one-to-many: the key sits on the contacts' table and the association is
    declared there (contacts -> deals); HubSpot shows it from both sides."""
    engine, schema = source_db
    md = sa.MetaData(schema=schema)
    deals = sa.Table("deals", md, sa.Column("deal_id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50)),
                     sa.Column("row_version", sa.BigInteger, nullable=False))
    people = sa.Table("people", md, sa.Column("person_id", sa.Integer, primary_key=True),
                      sa.Column("email", sa.String(100)), sa.Column("deal_id", sa.Integer),
                      sa.Column("row_version", sa.BigInteger, nullable=False))
    md.create_all(engine)
    _portal(emulator)
    prefix = f"{schema}." if schema else ""
    objects = [
        {"name": "people", "object_type": "contacts", "table": f"{prefix}people", "key": ["person_id"],
         "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "email",
         "fields": {"email": {"column": "email", "transform": ["trim", "email"], "required": True}},
         "associations": [{"to": "deals", "column": "deal_id"}]},
        {"name": "deals", "object_type": "deals", "table": f"{prefix}deals", "key": ["deal_id"],
         "watermark": {"column": "row_version", "kind": "integer"}, "id_property": "sql_deal_id",
         "fields": {"sql_deal_id": {"column": "deal_id", "transform": "string"}, "dealname": {"column": "name"}}},
    ]
    rt = _runtime(engine, emulator, state_schema=f"{schema}_state" if schema else "hubsync", objects=objects)
    with engine.begin() as conn:
        conn.execute(deals.insert(), [{"deal_id": d, "name": f"D{d}", "row_version": 1} for d in (1, 2)])
        conn.execute(people.insert(), [{"person_id": p, "email": f"p{p}@example.com", "deal_id": 1 + p % 2,
                                        "row_version": 1} for p in range(1, 7)])

    run_sync(rt, workers=2)

    deal = {r["properties"]["sql_deal_id"]: r["id"] for r in emulator.records("deals")}
    contact = {r["properties"]["email"]: r["id"] for r in emulator.records("contacts")}
    expected = sorted((contact[f"p{p}@example.com"], deal[str(1 + p % 2)]) for p in range(1, 7))
    assert sorted((f, t) for f, t, tid in emulator.associations("contacts", "deals") if tid == 4) == expected
    assert sorted((t, f) for f, t, tid in emulator.associations("deals", "contacts") if tid == 3) == expected


def test_association_types_are_read_once_per_process_not_per_message(source_db, emulator):
    """A Function builds a worker per queue message: the labels call must not come with each."""
    _engine, _tables, rt = _setup(source_db, emulator)
    people = rt.config.object("people")
    for _ in range(3):  # three messages, three workers
        assert rt.worker().linker.type_of(people, people.associations[0]) == ("HUBSPOT_DEFINED", CONTACT_TO_COMPANY)
    assert len([c for c in emulator.calls if c[1].endswith("/labels")]) == 1

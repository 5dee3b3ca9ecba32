"""Contacts that exist in HubSpot before the first sync (made by a form, an import, a person):
adopted by default, rejected with ``on_existing: reject``, and a conflict costs at most one
extra call per batch (issue: existing HubSpot records adopted). Seeded ids and expected values
are known here, not computed by the code under test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.keys import key_to_json
from shared.sync.run import run_sync
from tests.conftest import TOKEN
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers

pytestmark = pytest.mark.e2e

EXISTING = [5, 17, 18, 140, 260]  # rows whose email a contact in HubSpot already has


def seed_contacts(emulator) -> dict[int, str]:
    """Contacts made outside hubsync, one per EXISTING row's email (mixed case, as a form would keep it)."""
    writer = HubSpotWriter(SecretStr(TOKEN), emulator.base_url)
    ids = {}
    for i in EXISTING:
        email = f"User{i}@Example.com"
        [result] = writer.upsert("contacts", "email", [(email, {"email": email, "firstname": "FromAForm"})])
        ids[i] = result.hubspot_id
    return ids


def custom_id_config(**object_overrides) -> dict:
    data = config_dict(id_property="sql_customer_id")
    data["objects"][0]["fields"]["sql_customer_id"] = {"column": "customer_id", "transform": "string"}
    data["objects"][0].update(object_overrides)
    return data


@pytest.fixture
def portal(emulator):
    emulator.add_property("contacts", {"name": "sql_customer_id", "label": "SQL id", "type": "string",
                                       "fieldType": "text", "hasUniqueValue": True})
    return emulator


def test_existing_contacts_are_adopted_with_one_extra_call_per_batch(sqlite_url, portal):
    seeded = seed_contacts(portal)
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 300)
    rt = make_runtime(engine, portal, config=custom_id_config())

    result = run_sync(rt, workers=3, base_backoff=0.01)

    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    for i, hubspot_id in seeded.items():
        rec = records[key_to_json([i])]
        assert (rec.last_outcome, rec.hubspot_id) == ("adopted", hubspot_id), (i, rec)
        contact = portal.get_record("contacts", hubspot_id)
        assert contact["properties"]["sql_customer_id"] == str(i)
        assert contact["properties"]["firstname"] == f"First{i}"  # the row's values were written onto it
        assert contact["properties"]["email"] == f"user{i}@example.com"
    emails = [r["properties"].get("email") for r in portal.records("contacts")]
    assert len(emails) == len(set(emails)), "a second contact was made next to an existing one"
    assert result.run["adopted"] == len(EXISTING)
    # each batch holding an existing contact costs exactly one more call: 409, then one upsert by email
    conflicted_batches = len({(i - 1) // 100 for i in EXISTING})  # keys 1..300 in order, 100 per batch
    assert result.run["api_calls"] == 1 + result.run["batches"] + conflicted_batches, result.run


def test_on_existing_reject_refuses_them_and_leaves_them_untouched(sqlite_url, portal):
    seeded = seed_contacts(portal)
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 300)
    rt = make_runtime(engine, portal, config=custom_id_config(on_existing="reject"))

    result = run_sync(rt, workers=2, base_backoff=0.01)

    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    for i, hubspot_id in seeded.items():
        rec = records[key_to_json([i])]
        assert rec.last_outcome == "rejected" and f"(id {hubspot_id})" in rec.reason and "on_existing" in rec.reason
        assert portal.get_record("contacts", hubspot_id)["properties"]["firstname"] == "FromAForm"
    assert result.run["adopted"] == 0
    assert sum(1 for r in records.values() if r.last_outcome == "created") == 300 - len(EXISTING) - 9  # 9 invalid rows


def test_matched_by_email_an_existing_contact_is_counted_as_adopted(sqlite_url, portal):
    seeded = seed_contacts(portal)
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 50)
    rt = make_runtime(engine, portal)  # id_property: email

    result = run_sync(rt, base_backoff=0.01)

    records = {r.source_key: r for r in rt.state.all_records("contacts")}
    adopted = {i for i in EXISTING if i <= 50}
    assert {int(k.strip("[]")) for k, r in records.items() if r.last_outcome == "adopted"} == adopted
    assert result.run["adopted"] == len(adopted)
    assert {records[key_to_json([i])].hubspot_id for i in adopted} == {seeded[i] for i in adopted}


def test_the_dry_run_shows_which_rows_would_be_adopted_and_writes_nothing(sqlite_url, portal):
    from shared.sync.dry_run import preview

    seed_contacts(portal)
    engine = sa.create_engine(sqlite_url)
    create_customers(engine, 300)
    rt = make_runtime(engine, portal, config=custom_id_config())
    obj = rt.config.objects[0]
    writes_before = [c for c in portal.calls if c[0] == "POST" and not c[1].endswith("/batch/read")]

    plan = preview(rt, obj, rt.schemas.get("contacts"), sample=0)

    assert (plan.counts.adopted, plan.counts.created, plan.counts.rejected) == (len(EXISTING), 300 - 5 - 9, 9)
    assert [c for c in portal.calls if c[0] == "POST" and not c[1].endswith("/batch/read")] == writes_before

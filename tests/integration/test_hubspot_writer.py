"""The writer through the official SDK over HTTP against the emulator."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from shared.errors import AuthenticationError, BatchValidationError, ConfigurationError, RetryableError
from shared.hubspot.hubspot_writer import HubSpotWriter
from shared.hubspot.rate_budget import PacedBudget
from shared.runtime import Runtime
from shared.settings import Settings
from shared.sync.run import run_sync
from tests.conftest import TOKEN
from tests.support import config_for, create_customers


def _writer(emulator, token=TOKEN, **kw):
    return HubSpotWriter(SecretStr(token), emulator.base_url, client_side_validation=True,
                         sleep=lambda s: None, **kw)


def test_schema_upsert_update_and_read(emulator):
    w = _writer(emulator)
    schema = w.fetch_schema("contacts")
    assert schema.properties["email"].type == "string"
    assert schema.properties["hs_object_id"].read_only
    assert "customer" in schema.properties["lifecyclestage"].options

    [created] = w.upsert("contacts", "email", [("a@b.io", {"email": "a@b.io", "firstname": "A"})])
    assert created.new and created.id_value == "a@b.io"
    [again] = w.upsert("contacts", "email", [("a@b.io", {"email": "a@b.io", "firstname": "B"})])
    assert not again.new and again.hubspot_id == created.hubspot_id

    results, missing = w.update("contacts", [(created.hubspot_id, {"firstname": "C"}), ("999999", {"firstname": "D"})])
    assert [r.hubspot_id for r in results] == [created.hubspot_id] and missing == {"999999"}
    found = w.read("contacts", ["a@b.io", "zz@b.io"], ["firstname"], id_property="email")
    assert found["a@b.io"]["properties"]["firstname"] == "C" and "zz@b.io" not in found
    assert w.api_calls == 5
    assert TOKEN not in repr(w)


def test_wrong_token_is_a_configuration_error_naming_the_setting(emulator):
    with pytest.raises(AuthenticationError, match="HUBSPOT_ACCESS_TOKEN"):
        _writer(emulator, token="nope").fetch_schema("contacts")


def test_unknown_object_type_is_a_configuration_error(emulator):
    with pytest.raises(ConfigurationError, match="no object type 'widgets'"):
        _writer(emulator).fetch_schema("widgets")


def test_a_batch_with_one_invalid_input_is_refused_whole(emulator):
    w = _writer(emulator)
    with pytest.raises(BatchValidationError, match="INVALID_EMAIL"):
        w.upsert("contacts", "email", [("ok@b.io", {"email": "ok@b.io"}), ("bad", {"email": "bad"})])
    assert emulator.records("contacts") == []


def test_rate_limit_is_retried_once_the_window_has_passed(emulator):
    budget_sleeps: list[float] = []
    writer_sleeps: list[float] = []
    w = HubSpotWriter(SecretStr(TOKEN), emulator.base_url, sleep=writer_sleeps.append,
                      budget=PacedBudget.local(100, sleep=budget_sleeps.append))
    emulator.inject_fault(429, times=2)
    schema = w.fetch_schema("contacts")
    assert "email" in schema.properties
    # the budget holds each retry for HubSpot's window (10 s, from the 429's headers); the writer
    # adds no wait of its own on top
    assert [round(s) for s in budget_sleeps] == [10, 10]
    assert writer_sleeps == [0.0, 0.0]


def test_outage_beyond_the_attempts_raises_retryable(emulator):
    emulator.inject_fault(503, times=10)
    with pytest.raises(RetryableError, match="503"):
        _writer(emulator, max_attempts=3).fetch_schema("contacts")
    assert [c[2] for c in emulator.calls].count(503) == 3


def test_unreachable_hubspot_is_retryable():
    w = HubSpotWriter(SecretStr(TOKEN), "http://127.0.0.1:9", max_attempts=2, sleep=lambda s: None, timeout=2)
    with pytest.raises(RetryableError, match="unreachable"):
        w.fetch_schema("contacts")


def test_record_deleted_in_hubspot_is_recreated_and_remapped(sqlite_url, emulator):
    engine = sa.create_engine(sqlite_url)
    table = create_customers(engine, 5)
    settings = Settings(hubspot_token=SecretStr(TOKEN))
    rt = Runtime.build(settings, config_for(), engine=engine, hubspot_base_url=emulator.base_url, sleep=lambda s: None)
    rt.state.init_db()
    run_sync(rt)
    victim = emulator.find("contacts", "email", "user2@example.com")
    emulator.reset()  # someone deleted every contact in HubSpot
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET last_name='New', row_version=100 WHERE customer_id=2"))

    result = run_sync(rt)

    assert result.run["created"] == 1
    now = emulator.find("contacts", "email", "user2@example.com")
    assert now is not None and victim is not None
    [rec] = [r for r in rt.state.all_records("contacts") if r.source_key == "[2]"]
    assert rec.hubspot_id == now["id"] and rec.last_outcome == "created"
    # unchanged rows are not re-sent: only the changed one came back
    assert [r["properties"]["email"] for r in emulator.records("contacts")] == ["user2@example.com"]
    assert table.name == "customers"



def test_a_401_whose_correlation_id_holds_404_is_still_a_token_problem(emulator) -> None:
    # the schema read used to test for "404" anywhere in the error text, correlation id included
    emulator.inject_fault(401, body={"status": "error", "message": "Authentication credentials not found.",
                                     "category": "INVALID_AUTHENTICATION", "correlationId": "e404a1b2-0000"})
    with pytest.raises(AuthenticationError, match="HUBSPOT_ACCESS_TOKEN"):
        _writer(emulator).fetch_schema("contacts")

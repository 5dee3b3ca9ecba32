"""data_file persistence across emulator instances, and concurrent writers."""

from __future__ import annotations

import threading

import pytest
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputUpsert, SimplePublicObjectBatchInputUpsert

pytestmark = pytest.mark.emulator


def upsert(batch, email: str, props: dict[str, str] | None = None):
    return batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id=email, id_property="email", properties=props or {})]
    ))


def test_data_file_persists_records_and_id_counter(tmp_path, emulator_factory, client_factory):
    data_file = tmp_path / "portal.json"
    first = emulator_factory(data_file=str(data_file))
    created = upsert(client_factory(first).crm.contacts.batch_api, "keep@example.com", {"firstname": "Kept"})
    first_id = created.results[0].id
    first.stop()
    assert data_file.exists()

    second = emulator_factory(data_file=str(data_file))
    assert [r["id"] for r in second.records("contacts")] == [first_id]
    batch = client_factory(second).crm.contacts.batch_api
    again = upsert(batch, "KEEP@example.com", {"lastname": "Still"})
    assert again.results[0].new is False
    assert again.results[0].id == first_id
    assert again.results[0].properties["firstname"] == "Kept"
    fresh = upsert(batch, "other@example.com")
    assert int(fresh.results[0].id) > int(first_id)  # the id counter was persisted too


def test_two_live_instances_share_one_data_file(tmp_path, emulator_factory, client_factory):
    data_file = str(tmp_path / "shared.json")
    a = emulator_factory(data_file=data_file)
    b = emulator_factory(data_file=data_file)
    upsert(client_factory(a).crm.contacts.batch_api, "from-a@example.com")
    assert b.find("contacts", "email", "from-a@example.com") is not None
    second = upsert(client_factory(b).crm.contacts.batch_api, "from-b@example.com")
    assert second.results[0].id == "2"
    assert [r["id"] for r in a.records("contacts")] == ["1", "2"]
    # A upserting B's email finds B's record rather than creating a duplicate.
    assert upsert(client_factory(a).crm.contacts.batch_api, "from-b@example.com").results[0].new is False


def test_added_properties_are_persisted(tmp_path, emulator_factory, client_factory):
    data_file = str(tmp_path / "props.json")
    first = emulator_factory(data_file=data_file)
    first.add_property("contacts", {"name": "favourite_colour", "type": "string"})
    first.stop()
    second = emulator_factory(data_file=data_file)
    prop = client_factory(second).crm.properties.core_api.get_by_name("contacts", "favourite_colour")
    assert prop.hubspot_defined is False


def test_concurrent_upserts_of_distinct_emails(emulator, client_factory):
    emails = [f"thread{i}@example.com" for i in range(8)]
    ids: dict[str, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(emails))

    def worker(email: str) -> None:
        try:
            batch = client_factory(emulator).crm.contacts.batch_api  # one api object per thread
            start.wait()
            for _ in range(3):  # repeated upserts of the same email must not duplicate it
                response = upsert(batch, email, {"firstname": email})
            ids[email] = response.results[0].id
        except BaseException as exc:  # re-raised below in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    records = emulator.records("contacts")
    assert len(records) == len(emails)
    assert len({r["id"] for r in records}) == len(emails)
    assert sorted(r["properties"]["email"] for r in records) == sorted(emails)
    assert sorted(ids.values(), key=int) == [r["id"] for r in records]

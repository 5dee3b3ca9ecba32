"""Auth, rate limits, injected faults and protocol-level errors."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)

pytestmark = pytest.mark.emulator

WRONG_TOKEN = "wrong-token"  # noqa: S105 - deliberately not the emulator's token

RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)


def one_upsert(email: str = "rl@example.com"):
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id=email, id_property="email", properties={})]
    )


def test_wrong_token_is_401(emulator, client_factory, parse_error):
    batch = client_factory(emulator, token=WRONG_TOKEN).crm.contacts.batch_api
    with pytest.raises(ApiException) as exc:
        batch.upsert(one_upsert())
    assert exc.value.status == 401
    assert "INVALID_AUTHENTICATION" in exc.value.body
    error = parse_error(exc.value)
    assert error.category == "INVALID_AUTHENTICATION"
    assert error.correlation_id
    assert emulator.records("contacts") == []
    assert emulator.calls[-1] == ("POST", "/crm/v3/objects/contacts/batch/upsert", 401)


def test_missing_token_is_401(emulator, client_factory):
    client = client_factory(emulator, token=None)
    response = client.api_request({"method": "GET", "path": "/crm/v3/properties/contacts"})
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert "Authentication credentials not found" in body["message"]


def test_rate_limit_headers_on_every_response(contacts_batch):
    _, status, headers = contacts_batch.upsert_with_http_info(one_upsert())
    assert status == 200
    for name in RATE_HEADERS:
        assert name in headers
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Max"]) >= 100


def test_ten_secondly_limit_refuses_the_fourth_call(emulator_factory, client_factory):
    emu = emulator_factory(rate_limit_per_10s=3)
    batch = client_factory(emu).crm.contacts.batch_api
    remaining = []
    for i in range(3):
        _, status, headers = batch.upsert_with_http_info(one_upsert(f"r{i}@example.com"))
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Max"] == "3"
        remaining.append(int(headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]

    with pytest.raises(ApiException) as exc:
        batch.upsert(one_upsert("r3@example.com"))
    assert exc.value.status == 429
    body = json.loads(exc.value.body)
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["correlationId"] and body["requestId"]
    assert "Retry-After" not in exc.value.headers
    assert exc.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert len(emu.records("contacts")) == 3
    assert [c[2] for c in emu.calls] == [200, 200, 200, 429]


def test_rate_window_rolls(emulator_factory, client_factory):
    emu = emulator_factory(rate_limit_per_10s=1)
    batch = client_factory(emu).crm.contacts.batch_api
    batch.upsert(one_upsert("w1@example.com"))
    with pytest.raises(ApiException):
        batch.upsert(one_upsert("w2@example.com"))
    later = emu._clock() + 10.5  # ten and a half seconds later
    emu._clock = lambda: later
    assert batch.upsert(one_upsert("w2@example.com")).results[0].new is True


def test_daily_limit(emulator_factory, client_factory):
    emu = emulator_factory(daily_limit=2)
    batch = client_factory(emu).crm.contacts.batch_api
    _, _, headers = batch.upsert_with_http_info(one_upsert("d1@example.com"))
    assert headers["X-HubSpot-RateLimit-Daily"] == "2"
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    batch.upsert(one_upsert("d2@example.com"))
    with pytest.raises(ApiException) as exc:
        batch.upsert(one_upsert("d3@example.com"))
    assert exc.value.status == 429
    assert json.loads(exc.value.body)["policyName"] == "DAILY"


def test_injected_503_then_success(emulator, contacts_batch, parse_error):
    emulator.inject_fault(503)
    with pytest.raises(ApiException) as exc:
        contacts_batch.upsert(one_upsert())
    assert exc.value.status == 503
    assert parse_error(exc.value).message
    assert emulator.records("contacts") == []

    response = contacts_batch.upsert(one_upsert())
    assert response.results[0].new is True
    assert [c[2] for c in emulator.calls] == [503, 200]


def test_injected_429_uses_the_rate_limit_body(emulator, contacts_batch):
    emulator.inject_fault(429, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as exc:
            contacts_batch.upsert(one_upsert())
        assert exc.value.status == 429
        assert json.loads(exc.value.body)["errorType"] == "RATE_LIMIT"
    assert contacts_batch.upsert(one_upsert()).results[0].new is True


def test_injected_fault_matches_path_and_custom_body_and_headers(emulator, hubspot_client, contacts_batch):
    emulator.inject_fault(423, path_contains="batch/upsert", headers={"X-Test": "yes"})
    emulator.inject_fault(477)

    # Matches the 477 (no path filter) first: faults are served in the order they match.
    props = hubspot_client.crm.properties.core_api
    with pytest.raises(Exception) as first:
        props.get_all("contacts")
    assert first.value.status == 477
    assert first.value.headers["Retry-After"] == "1"

    with pytest.raises(ApiException) as locked:
        contacts_batch.upsert(one_upsert())
    assert locked.value.status == 423
    assert locked.value.headers["X-Test"] == "yes"
    assert json.loads(locked.value.body)["status"] == "error"

    emulator.inject_fault(502, body="<html>Bad gateway</html>")
    with pytest.raises(ApiException) as gateway:
        contacts_batch.upsert(one_upsert())
    assert gateway.value.status == 502
    assert gateway.value.body == "<html>Bad gateway</html>"
    assert contacts_batch.upsert(one_upsert()).results[0].new is True


def test_malformed_json_is_400(emulator, hubspot_client):
    response = hubspot_client.api_request({
        "method": "POST",
        "path": "/crm/v3/objects/contacts/batch/upsert",
        "body": '{"inputs": [',
    })
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["correlationId"]
    assert emulator.records("contacts") == []


def test_unknown_path_is_404(hubspot_client):
    response = hubspot_client.api_request({"method": "GET", "path": "/crm/v3/nothing/here"})
    assert response.status_code == 404
    assert response.json()["status"] == "error"
    assert "X-HubSpot-RateLimit-Remaining" in response.headers


def test_unknown_object_type_is_404(hubspot_client):
    from hubspot.crm import objects

    with pytest.raises(objects.ApiException) as exc:
        hubspot_client.crm.objects.batch_api.upsert(
            "p_unknown",
            objects.BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
                objects.SimplePublicObjectBatchInputUpsert(id="1", id_property="external_id", properties={})
            ]),
        )
    assert exc.value.status == 404


def test_reset_clears_records_faults_and_calls(emulator, contacts_batch):
    contacts_batch.upsert(one_upsert())
    emulator.inject_fault(500)
    emulator.reset()
    assert emulator.records("contacts") == []
    assert emulator.calls == []
    response = contacts_batch.upsert(one_upsert())  # the fault is gone
    assert response.results[0].id == "1"
    assert emulator.calls == [("POST", "/crm/v3/objects/contacts/batch/upsert", 200)]


def test_health_endpoint_needs_no_token(emulator, client_factory):
    response = client_factory(emulator, token=None).api_request({"method": "GET", "path": "/_emulator/health"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}

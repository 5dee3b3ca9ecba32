"""Fixtures: a running emulator and official-SDK clients with client-side validation on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import hubspot
import pytest
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputUpsert, SimplePublicObjectBatchInputUpsert

from hubspot_emulator import Emulator

TOKEN = "test-token"  # noqa: S105 - the emulator's well-known test credential


def build_client(emulator: Emulator, token: str | None = TOKEN) -> hubspot.HubSpot:
    """An SDK client pointed at the emulator.

    ``client_side_validation=True`` is copied onto every generated Configuration by the SDK's
    default api factory (``setattr(configuration, key, value)``), so every response model the
    SDK builds checks that the emulator sent all required fields.
    """
    return hubspot.HubSpot(
        access_token=token,
        host=emulator.base_url,
        base_url=emulator.base_url,  # read by client.api_request()
        client_side_validation=True,
    )


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """``emulator_factory(**kwargs)`` starts another Emulator (token TOKEN); all are stopped after."""
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        emu = Emulator(token=TOKEN, **kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def hubspot_client(emulator: Emulator) -> hubspot.HubSpot:
    return build_client(emulator)


@pytest.fixture
def client_factory() -> Callable[..., hubspot.HubSpot]:
    return build_client


@pytest.fixture
def contacts_batch(hubspot_client: hubspot.HubSpot) -> Any:
    """One contacts BatchApi (each attribute access builds a new ApiClient, so keep one)."""
    return hubspot_client.crm.contacts.batch_api


@pytest.fixture
def parse_error() -> Callable[..., Any]:
    """Deserialise an ApiException body into the SDK's ``Error`` model, strictly."""

    def parse(exc: Any, package: Any = hubspot.crm.contacts) -> Any:
        configuration = package.Configuration()
        configuration.client_side_validation = True
        api_client = package.ApiClient(configuration=configuration)
        return api_client.deserialize(SimpleNamespace(data=exc.body), "Error")

    return parse


@pytest.fixture
def upsert_contacts(contacts_batch: Any) -> Callable[..., Any]:
    """``upsert_contacts([(email, {props}), ...])`` through the SDK, keyed by email."""

    def upsert(rows: list[tuple[str, dict[str, str]]], id_property: str = "email") -> Any:
        inputs = [
            SimplePublicObjectBatchInputUpsert(id=key, id_property=id_property, properties=props)
            for key, props in rows
        ]
        return contacts_batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))

    return upsert

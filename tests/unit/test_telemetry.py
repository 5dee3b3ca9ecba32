"""shared/telemetry.py: in Azure, each field of a sync_logger event reaches Application Insights
as a customDimension of its own (an OpenTelemetry log record attribute), masked like every other
log line; without a connection string nothing is configured.

The pipeline here is OpenTelemetry's own SDK with an in-memory exporter in place of Azure
Monitor's, and the Azure Monitor exporter's conversion of a record into the envelope it sends
(whose properties are what Application Insights shows as customDimensions)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from shared import telemetry
from shared.sync_logger import log_event

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "jane.doe@example.com"
TOKEN = "pat-na1-0123abcd-4567-89ef-0123-456789abcdef"


@pytest.fixture
def exported() -> Iterator[tuple[logging.Logger, InMemoryLogRecordExporter, logging.Handler]]:
    """A logger under hubsync.*, with the StructuredHandler on a logger above it, exporting into memory."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    parent = logging.getLogger("hubsync.telemetrytest")
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    handler = telemetry.install_handler(provider, logger=parent)
    yield logging.getLogger("hubsync.telemetrytest.worker"), exporter, handler
    parent.removeHandler(handler)
    parent.propagate = True
    provider.shutdown()


def attributes(exporter: InMemoryLogRecordExporter) -> list[dict[str, Any]]:
    return [dict(r.log_record.attributes or {}) for r in exporter.get_finished_logs()]


def test_a_sync_event_arrives_with_each_field_as_an_attribute_masked(exported: Any) -> None:
    log, exporter, _ = exported
    log_event(log, logging.WARNING, "record_rejected", run_id="r-1", object="contacts", batch_id="b-7",
              source_key=f'["{EMAIL}"]', reason=f"invalid email {EMAIL}, call +1 206 555 0100",
              error=f"401 Authorization: Bearer {TOKEN}", created=3, rate=0.5, skipped=None,
              keys=[EMAIL, 42])  # not text: the masking filter passes it by, the export masks it
    (record,) = exporter.get_finished_logs()
    attrs = dict(record.log_record.attributes or {})
    assert attrs["event"] == "record_rejected"
    assert (attrs["run_id"], attrs["object"], attrs["batch_id"]) == ("r-1", "contacts", "b-7")
    assert attrs["created"] == 3 and attrs["rate"] == 0.5  # numbers stay numbers (a LogRecord name too)
    assert "skipped" not in attrs and "custom_dimensions" not in attrs  # flat, and no None
    assert attrs["source_key"] == '["j***@example.com"]'
    assert EMAIL not in attrs["reason"] and "j***@example.com" in attrs["reason"] and "555 0100" not in attrs["reason"]
    assert TOKEN not in attrs["error"] and "[redacted]" in attrs["error"]
    assert attrs["keys"] == "['j***@example.com', 42]"
    body = str(record.log_record.body)
    assert body.startswith("record_rejected ") and EMAIL not in body and TOKEN not in body


def test_the_attributes_become_the_envelopes_custom_dimensions(exported: Any) -> None:
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope

    log, exporter, _ = exported
    log_event(log, logging.INFO, "batch_done", run_id="r-2", object="contacts", batch_id="b-1",
              created=2, updated=1, api_calls=2)
    (record,) = exporter.get_finished_logs()
    envelope = _convert_log_to_envelope(record)
    properties = envelope.data.base_data.properties  # Application Insights: customDimensions
    assert {"event": "batch_done", "run_id": "r-2", "object": "contacts", "batch_id": "b-1", "created": "2",
            "updated": "1", "api_calls": "2"}.items() <= properties.items()
    assert envelope.data.base_data.message.startswith("batch_done ")


def test_debug_keeps_personal_data_but_never_a_token(exported: Any) -> None:
    log, exporter, _ = exported
    log_event(log, logging.DEBUG, "probe", detail=f"{EMAIL} Bearer {TOKEN}")
    (attrs,) = attributes(exporter)
    assert EMAIL in attrs["detail"] and TOKEN not in attrs["detail"]


def test_only_hubsync_records_and_other_loggers_warnings_are_exported() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    top = logging.getLogger("telemetrytest_root")
    top.setLevel(logging.DEBUG)
    top.propagate = False
    handler = telemetry.install_handler(provider, logger=top)
    try:
        logging.getLogger("telemetrytest_root.child").info("an SDK's request line")  # not hubsync: INFO dropped
        logging.getLogger("telemetrytest_root.child").warning("an SDK's warning")
        record = logging.LogRecord("hubsync.worker", logging.INFO, __file__, 1, "batch_done x=1", None, None)
        handler.handle(record)
        exporter_log = logging.LogRecord("azure.monitor.opentelemetry.exporter.x", logging.ERROR, __file__, 1,
                                         "export failed", None, None)
        handler.handle(exporter_log)  # never fed back into the exporter
        assert [str(r.log_record.body) for r in exporter.get_finished_logs()] == ["an SDK's warning", "batch_done x=1"]
    finally:
        top.removeHandler(handler)
        provider.shutdown()


def test_the_handler_takes_the_place_of_the_distros_plain_one() -> None:
    provider = LoggerProvider()
    target = logging.getLogger("telemetrytest_replace")
    plain = LoggingHandler(logger_provider=provider)
    target.addHandler(plain)
    try:
        ours = telemetry.install_handler(provider, logger=target)
        assert target.handlers == [ours] and isinstance(ours, LoggingHandler)
    finally:
        for handler in list(target.handlers):
            target.removeHandler(handler)
        provider.shutdown()


def test_the_distros_plain_handler_would_lose_the_fields() -> None:
    # why StructuredHandler exists: OpenTelemetry's own handler sends custom_dimensions as one
    # attribute (one customDimension holding a dict's text), not as run_id, object, ...
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    target = logging.getLogger("hubsync.telemetrytest_plain")
    target.propagate = False
    plain = LoggingHandler(logger_provider=provider)
    target.addHandler(plain)
    try:
        log_event(target, logging.WARNING, "batch_failed", run_id="r-3", error="boom")
        (attrs,) = attributes(exporter)
        assert "run_id" not in attrs and "event" not in attrs
    finally:
        target.removeHandler(plain)
        target.propagate = True
        provider.shutdown()


def test_configure_signs_in_with_the_apps_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity
    import azure.monitor.opentelemetry

    calls: dict[str, Any] = {}

    class Credential:
        def __init__(self, client_id: str | None = None) -> None:
            self.client_id = client_id

    def fake_configure(**kwargs: Any) -> None:
        calls.update(kwargs)

    installed: list[Any] = []
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", Credential)
    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", fake_configure)
    monkeypatch.setattr(telemetry, "install_handler", lambda provider: installed.append(provider))
    monkeypatch.setitem(telemetry._STATE, "configured", False)
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": " InstrumentationKey=00000000-0000-0000-0000-000000000000;"
           "IngestionEndpoint=https://example.invalid/ ", "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555"}
    assert telemetry.configure(env) is True
    assert calls["connection_string"].startswith("InstrumentationKey=") and not calls["connection_string"].endswith(" ")
    assert isinstance(calls["credential"], Credential)
    assert calls["credential"].client_id == "11111111-2222-3333-4444-555555555555"
    assert calls["logger_name"] == "" and len(installed) == 1
    assert telemetry.configure(env) is True and len(installed) == 1  # once per process


def test_a_failing_setup_leaves_the_app_running(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    import azure.monitor.opentelemetry

    def broken(**_kwargs: Any) -> None:
        raise ValueError(f"bad connection string with Bearer {TOKEN}")

    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", broken)
    monkeypatch.setitem(telemetry._STATE, "configured", False)
    with caplog.at_level(logging.WARNING, logger="hubsync.telemetry"):
        assert telemetry.configure({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}) is False
    assert "telemetry_not_configured" in caplog.text and TOKEN not in caplog.text


def test_nothing_is_configured_or_imported_without_a_connection_string() -> None:
    code = (
        "import logging, sys\n"
        "from shared import telemetry\n"
        "before = list(logging.getLogger().handlers)\n"
        "assert telemetry.configure({'AZURE_CLIENT_ID': 'x', 'APPLICATIONINSIGHTS_CONNECTION_STRING': '  '}) is False\n"
        "assert logging.getLogger().handlers == before\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor'))]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr

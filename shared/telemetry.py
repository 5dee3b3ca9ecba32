"""Application Insights through OpenTelemetry: hubsync's event fields become ``customDimensions``.

In Azure, ``configure()`` (called once by function_app.py) sets up the Azure Monitor OpenTelemetry
distro with the app's managed identity: ``APPLICATIONINSIGHTS_CONNECTION_STRING`` names the
resource, ``ManagedIdentityCredential(client_id=AZURE_CLIENT_ID)`` signs the ingestion (the
resource refuses keys). Without a connection string (local runs, the CLI, tests) nothing is
configured and nothing from OpenTelemetry is imported.

Each event of ``shared.sync_logger.log_event`` carries its fields in ``custom_dimensions``. The
distro's logging handler would send that dict as one attribute; ``StructuredHandler`` sends each
field as an attribute of its own (``customDimensions.run_id``, ``customDimensions.created``, ...),
after the same masking as every other handler (``MaskingFilter``: no token, no password, and at
INFO and above no e-mail address or phone number). The saved queries in infra/queries read them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from shared.redaction import mask, scrub_secrets
from shared.sync_logger import MaskingFilter

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
CLIENT_ID = "AZURE_CLIENT_ID"
# hubsync's own loggers are exported from INFO; others (Azure SDK, urllib3, the worker) from
# WARNING, so a storage request logged at INFO by azure-core is not a trace of its own.
OWN_LOGGERS = "hubsync"
OTHER_LOGGERS_LEVEL = logging.WARNING
# the exporter's own logs never go back into the exporter
NOT_EXPORTED = ("azure.monitor.opentelemetry", "opentelemetry", "azure.core.pipeline.policies.http_logging_policy")

log = logging.getLogger("hubsync.telemetry")
_STATE: dict[str, Any] = {"configured": False}


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process exports telemetry (a connection string is set)."""
    return bool(environ.get(CONNECTION_STRING, "").strip())


def configure(environ: Mapping[str, str] = os.environ) -> bool:
    """Set up Azure Monitor once per process; returns whether telemetry is exported. A failure is
    logged and leaves the app running without it: telemetry never stops a sync."""
    if not enabled(environ):
        return False
    if _STATE["configured"]:
        return True
    try:
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry._logs import get_logger_provider

        client_id = environ.get(CLIENT_ID, "").strip() or None
        configure_azure_monitor(
            connection_string=environ[CONNECTION_STRING].strip(),
            credential=ManagedIdentityCredential(client_id=client_id),
            logger_name="",  # the root logger: hubsync's events and other loggers' warnings
        )
        install_handler(get_logger_provider())
    except Exception as err:  # the distro, the credential or the handler
        log.warning("telemetry_not_configured error=%s", scrub_secrets(f"{type(err).__name__}: {err}"))
        return False
    _STATE["configured"] = True
    return True


def install_handler(logger_provider: Any, logger: logging.Logger | None = None) -> logging.Handler:
    """Put a ``StructuredHandler`` on ``logger`` (the root logger), in place of the distro's plain
    OpenTelemetry handler, so the two never both send a record."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    logger = logger if logger is not None else logging.getLogger()
    for handler in list(logger.handlers):
        if isinstance(handler, LoggingHandler):
            logger.removeHandler(handler)
    handler = structured_handler_class()(logger_provider=logger_provider)
    logger.addHandler(handler)
    return handler


class ExportFilter(logging.Filter):
    """What goes to Application Insights: hubsync's records, other loggers' warnings and errors,
    never the exporter's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if any(name == n or name.startswith(n + ".") for n in NOT_EXPORTED):
            return False
        if name == OWN_LOGGERS or name.startswith(OWN_LOGGERS + "."):
            return True
        return record.levelno >= OTHER_LOGGERS_LEVEL


def attribute_value(value: Any, level: int) -> Any:
    """An OpenTelemetry attribute value: numbers and booleans as they are, anything else as
    masked text (a list of keys, an exception, a dict)."""
    if isinstance(value, bool | int | float):
        return value
    text = scrub_secrets(value if isinstance(value, str) else str(value))
    return mask(text) if level >= logging.INFO else text


def structured_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event fields of a record (``custom_dimensions``), flat and masked; None values left out."""
    dims = getattr(record, "custom_dimensions", None)
    if not isinstance(dims, Mapping):
        return {}
    return {str(k): attribute_value(v, record.levelno) for k, v in dims.items() if v is not None}


_HANDLER: dict[str, type] = {}


def structured_handler_class() -> type:
    """OpenTelemetry's logging handler, with each event field as an attribute of its own (defined
    on first use: OpenTelemetry is imported only where telemetry is exported)."""
    if "class" in _HANDLER:
        return _HANDLER["class"]
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    class StructuredHandler(LoggingHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.addFilter(ExportFilter())
            self.addFilter(MaskingFilter())  # the message text, as on every other handler

        def _get_attributes(self, record: logging.LogRecord) -> Any:
            result = super()._get_attributes(record)
            attributes, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, None)
            attributes = {k: v for k, v in dict(attributes).items() if k != "custom_dimensions"}
            attributes.update(structured_fields(record))
            return (attributes, *rest) if rest is not None else attributes

    _HANDLER["class"] = StructuredHandler
    return StructuredHandler

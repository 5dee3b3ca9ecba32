"""Structured, privacy-aware logging.

``log_event`` writes one line per event with its fields as ``extra`` (``custom_dimensions``:
shared/telemetry.py exports each as an Application Insights customDimension) and as
``key=value`` text for consoles. Tokens never reach a log: ``MaskingFilter`` removes bearer
tokens and, at INFO and above, masks emails and phone numbers (``shared.redaction``).
"""

from __future__ import annotations

import logging
from typing import Any

from shared.redaction import mask, redact_values, scrub_secrets


class MaskingFilter(logging.Filter):
    """Redacts tokens always, and personal data at INFO and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub_secrets(message)
        if record.levelno >= logging.INFO:
            cleaned = mask(cleaned)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        dims = getattr(record, "custom_dimensions", None)
        if isinstance(dims, dict):
            record.custom_dimensions = {
                k: (_clean(v, record.levelno) if isinstance(v, str) else v) for k, v in dims.items()
            }
        return True


def _clean(value: str, level: int) -> str:
    value = scrub_secrets(value)
    return mask(value) if level >= logging.INFO else value


_VALUES = {"logged": False}
_REASONS = ("reason", "error")


def log_values(enabled: bool) -> None:
    """Whether rejection reasons keep the row values they quote (``log_values`` in the YAML)."""
    _VALUES["logged"] = enabled


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as structured dimensions. Values a reason quotes are left out
    unless the configuration asks for them; the state table keeps the whole reason."""
    if not _VALUES["logged"]:
        fields = {k: redact_values(v) if k in _REASONS and isinstance(v, str) else v for k, v in fields.items()}
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    # fields go under custom_dimensions only: names like 'created' are LogRecord attributes
    logger.log(level, "%s %s", event, text, extra={"custom_dimensions": {"event": event, **fields}})


def configure(level: int = logging.INFO) -> None:
    """Console logging for the CLI, with the masking filter on every handler."""
    root = logging.getLogger("hubsync")
    root.setLevel(level)
    if not any(isinstance(h, logging.StreamHandler) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    root.propagate = False


def install_filter(logger: logging.Logger | None = None) -> None:
    """Attach the masking filter to a logger (the Functions host's root handlers included)."""
    logger = logger or logging.getLogger()
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())
    for handler in logger.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())

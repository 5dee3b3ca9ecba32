"""Structured, privacy-aware logging.

``log_event`` writes one line per event with its fields as ``extra`` (Application Insights
turns them into customDimensions through the Functions host or OpenTelemetry) and as
``key=value`` text for consoles. Tokens never reach a log: ``MaskingFilter`` removes bearer
tokens and, at INFO and above, masks emails and phone numbers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w-])(?!\d{4}-\d{2}-\d{2})\+?\d[\d\s().-]{7,}\d(?![\w:-])")
_BEARER = re.compile(r"(?i)(bearer\s+|access_token=|pat-[a-z0-9]{2,4}-)[A-Za-z0-9._\-]+")
_PASSWORD = re.compile(r"(?i)\b(pwd|password|accountkey|sharedaccesssignature|sig)=([^;&\s'\"]+)")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def mask(text: str) -> str:
    """Mask emails (keeping the first character and the domain) and phone numbers."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: "***" + m.group(0)[-2:], text)


def scrub_secrets(text: str) -> str:
    """Remove tokens, passwords and storage keys from text meant for logs, tables or screens."""
    text = _BEARER.sub(lambda m: m.group(1) + "[redacted]", text)
    text = _PASSWORD.sub(lambda m: m.group(1) + "=[redacted]", text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + "[redacted]" + m.group(3), text)


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


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as structured dimensions."""
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

"""Secrets and personal data out of text meant for logs, state tables, screens and exceptions.
Pure code: used by logging, by the database and queue edges, and by the CLI."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"([\w.%+-])[\w.%+'-]*@([\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,})")  # \w: any script
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


_QUOTED = re.compile(r"""(?<![\w])(['"])(?:(?!\1).){1,2000}?\1""")


def redact_values(text: str) -> str:
    """A reason without the values it quotes (``'1985-13-07' is not a date`` -> ``'…' is not a date``):
    rejection reasons quote the row's values, and logs leave the operator's database."""
    return _QUOTED.sub(lambda m: m.group(1) + "…" + m.group(1), text)


def first_line(err: BaseException, limit: int = 300) -> str:
    """An exception's first line (a driver's own if it wraps one), without secrets."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines() or [type(orig).__name__]
    return scrub_secrets(lines[0][:limit])

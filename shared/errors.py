"""One exception hierarchy; its classes decide what the queue does with a message.

- ``ConfigurationError``: the operator must fix something (config, a setting, a token, a
  missing table). The CLI exits 2; in Functions the message is retried and then parked in
  the poison queue, from where it can be replayed once fixed.
- ``RetryableError``: try again later (429, 5xx, 423, timeouts, a dropped connection).
  Unknown errors are treated as retryable.
- ``RecordRejected``: one record is wrong (validation, conflict); it is recorded with its
  reason and the rest of its batch goes on.
- ``MalformedMessage``: a queue message that can never be processed; it goes to the poison
  store at once, with the reason.
"""

from __future__ import annotations


class HubsyncError(Exception):
    """Base class of every error hubsync raises on purpose."""


class ConfigurationError(HubsyncError):
    """Something the operator must fix; retrying will not help. CLI exit code 2."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


class SourceError(ConfigurationError):
    """The source database is unreachable or lacks a configured table or column."""


class UnknownObjectType(ConfigurationError):
    """The portal has no such object type."""


class AuthenticationError(ConfigurationError):
    """HubSpot refused the token (401) or its scopes (403)."""


class RetryableError(HubsyncError):
    """A transient failure: the batch should be tried again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None,
                 quota_exhausted: bool = False) -> None:
        self.retry_after = retry_after
        self.status = status
        self.quota_exhausted = quota_exhausted  # HubSpot's daily limit: nothing succeeds until it resets
        super().__init__(message)


class BatchValidationError(HubsyncError):
    """HubSpot refused a whole batch because at least one input was invalid (HTTP 400)."""

    def __init__(self, message: str, status: int = 400, category: str | None = None) -> None:
        self.status = status
        self.category = category
        super().__init__(message)


class RecordRejected(HubsyncError):
    """One record cannot be sent; ``reason`` is stored with it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MalformedMessage(HubsyncError):
    """A queue message that does not decode or validate; it can never succeed."""

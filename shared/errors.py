"""One error taxonomy, and the one function that decides what happens to a failure.

Every class says whether it is *transient* (a service failing: trying again later can
succeed) or *terminal* (trying again cannot help until something changes). Foreign
exceptions are wrapped once, at the edge where they are raised: SQLAlchemy's by the engine's
error hook (``shared.source.engine``), the HubSpot SDK's by ``shared.hubspot.error_handler``,
Azure Storage's by ``shared.queue.backends``.

``judge(err)`` turns any exception into a ``Verdict``: what the queue does with the message
(retry, defer, park, stop), whether it counts towards "a service is down", and the CLI's exit
code. The queue handler, the drain, the HubSpot writer's in-call retries and the CLI all ask
it; nothing else decides retry-or-not.

- ``ConfigurationError`` (terminal): the operator must fix something (config, a setting, the
  token, a missing table or column). Exit 2.
- ``RetryableError`` (transient): 429, 5xx, 423, timeouts, a dropped connection, a database or
  queue that is down. Exit 3: nothing is lost, the next run picks up where this one stopped.
- ``RecordRejected`` (terminal, one record): validation or a conflict; recorded with its reason.
- ``BatchValidationError`` (terminal, one batch): HubSpot refused a batch for a bad input; the
  worker splits it to find the record.
- ``MalformedMessage`` (terminal, one message): it can never be processed; parked at once.
- Anything else is a bug: the queue retries it (and then parks it), the CLI exits 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

EXIT_OK = 0
EXIT_REJECTED = 1  # the run finished; some rows were rejected or failed, each with its reason
EXIT_CONFIG = 2  # the operator must fix something; nothing was sent
EXIT_UNAVAILABLE = 3  # HubSpot, the database or the queue is unavailable; the next run resumes
EXIT_INTERNAL = 4  # a bug in hubsync: run again with -v and report the traceback
EXIT_INTERRUPTED = 130


class HubsyncError(Exception):
    """Base class of every error hubsync raises on purpose."""

    transient = False


class ConfigurationError(HubsyncError):
    """Something the operator must fix; retrying will not help."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


class SourceError(ConfigurationError):
    """The source database lacks a configured table or column, or refuses a statement."""


class UnknownObjectType(ConfigurationError):
    """The portal has no such object type."""


class AuthenticationError(ConfigurationError):
    """HubSpot refused the token (401) or its scopes (403)."""


class RetryableError(HubsyncError):
    """A transient failure: try again after ``retry_after`` seconds (None: the caller's backoff)."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None,
                 quota_exhausted: bool = False) -> None:
        self.retry_after = retry_after
        self.status = status
        self.quota_exhausted = quota_exhausted  # HubSpot's daily limit: nothing succeeds until it resets
        super().__init__(message)


class SourceUnavailable(RetryableError):
    """The source (and state) database cannot be reached or dropped the connection."""


class QueueUnavailable(RetryableError):
    """The queue service cannot be reached."""


class BatchValidationError(HubsyncError):
    """HubSpot refused a whole batch because at least one input was invalid (HTTP 400, 409, 207).

    For a conflict (409) ``existing_id`` is the record HubSpot says already holds a unique value,
    and ``conflict_property``/``conflict_value`` name it when HubSpot's message does (a contact's
    email conflict names neither: "Contact already exists. Existing ID: N")."""

    def __init__(self, message: str, status: int = 400, category: str | None = None,
                 existing_id: str | None = None, conflict_property: str | None = None,
                 conflict_value: str | None = None) -> None:
        self.status = status
        self.category = category
        self.existing_id = existing_id
        self.conflict_property = conflict_property
        self.conflict_value = conflict_value
        super().__init__(message)


class RecordRejected(HubsyncError):
    """One record cannot be sent; ``reason`` is stored with it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MalformedMessage(HubsyncError):
    """A queue message that does not decode or validate; it can never succeed."""


class Action(StrEnum):
    RETRY = "retry"  # let the queue deliver it again after a backoff; parked after max deliveries
    DEFER = "defer"  # re-queue after ``delay`` without spending a delivery (HubSpot's limits); a
    #                  run that will not wait that long stops instead (the daily limit in the CLI)
    PARK = "park"  # it can never succeed: into the poison store now
    STOP = "stop"  # stop the run and leave the message queued: the operator must fix the cause


@dataclass(frozen=True)
class Verdict:
    action: Action
    transient: bool  # a service is failing, not this message: counts towards stopping on an outage
    exit_code: int
    delay: float | None = None  # seconds the service asked us to wait, when it said
    paced: bool = False  # HubSpot's rolling window: the rate budget decides when to try again


DEFAULT_RETRY_DELAY = 10.0


def judge(err: BaseException) -> Verdict:
    """What to do about ``err``: the only place that decides retry-or-not."""
    if isinstance(err, MalformedMessage):
        return Verdict(Action.PARK, False, EXIT_CONFIG)
    if isinstance(err, ConfigurationError):
        return Verdict(Action.STOP, False, EXIT_CONFIG)
    if isinstance(err, RetryableError):
        if err.status == 429:  # the ten-second window (seconds) or the daily limit (hours)
            return Verdict(Action.DEFER, True, EXIT_UNAVAILABLE, err.retry_after or DEFAULT_RETRY_DELAY,
                           paced=not err.quota_exhausted)
        return Verdict(Action.RETRY, True, EXIT_UNAVAILABLE, err.retry_after)
    if isinstance(err, OSError):  # a socket or file the platform could not reach, not wrapped at an edge
        return Verdict(Action.RETRY, True, EXIT_UNAVAILABLE)
    # a bug (or an error no edge wrapped): retried by the queue, then parked with its reason
    return Verdict(Action.RETRY, False, EXIT_INTERNAL)

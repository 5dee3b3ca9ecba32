"""shared/errors.py: every kind of failure gets one verdict (queue action, outage or not, exit code).

The expected verdicts are written out by hand from the README's exit codes and the queue
behaviour docs/architecture.md describes, not computed from the code under test."""

from __future__ import annotations

import pytest

from shared.errors import (
    Action,
    AuthenticationError,
    BatchValidationError,
    ConfigurationError,
    MalformedMessage,
    QueueUnavailable,
    RecordRejected,
    RetryableError,
    SourceError,
    SourceUnavailable,
    UnknownObjectType,
    judge,
)

pytestmark = pytest.mark.unit

CASES = [
    # error, action, transient, exit code, delay
    (ConfigurationError("x"), "stop", False, 2, None),
    (SourceError("table missing"), "stop", False, 2, None),
    (AuthenticationError("401"), "stop", False, 2, None),
    (UnknownObjectType("p_nope"), "stop", False, 2, None),
    (MalformedMessage("not JSON"), "park", False, 2, None),
    (RetryableError("503", retry_after=None, status=503), "retry", True, 3, None),
    (RetryableError("503", retry_after=7.0, status=503), "retry", True, 3, 7.0),
    (SourceUnavailable("db down"), "retry", True, 3, None),
    (QueueUnavailable("storage down"), "retry", True, 3, None),
    (RetryableError("ten-secondly", retry_after=10.0, status=429), "defer", True, 3, 10.0),
    (RetryableError("429 without a hint", status=429), "defer", True, 3, 10.0),
    (RetryableError("daily", retry_after=3600.0, status=429, quota_exhausted=True), "defer", True, 3, 3600.0),
    (ConnectionResetError("peer reset"), "retry", True, 3, None),
    (TimeoutError("read timed out"), "retry", True, 3, None),
    (KeyError("bug"), "retry", False, 4, None),
    (ZeroDivisionError("bug"), "retry", False, 4, None),
    (RecordRejected("escaped the worker"), "retry", False, 4, None),
    (BatchValidationError("escaped the worker"), "retry", False, 4, None),
]


@pytest.mark.parametrize(("err", "action", "transient", "code", "delay"), CASES,
                         ids=[f"{type(c[0]).__name__}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_verdict(err: BaseException, action: str, transient: bool, code: int, delay: float | None) -> None:
    verdict = judge(err)
    assert (verdict.action, verdict.transient, verdict.exit_code, verdict.delay) == (Action(action), transient, code, delay)


def test_every_class_carries_its_marker() -> None:
    assert not ConfigurationError.transient and not MalformedMessage.transient and not RecordRejected.transient
    assert RetryableError.transient and SourceUnavailable.transient and QueueUnavailable.transient
    assert issubclass(SourceUnavailable, RetryableError) and not issubclass(SourceError, RetryableError)


def test_an_internal_error_has_its_own_exit_code_distinct_from_rejected_rows() -> None:
    from shared.errors import EXIT_INTERNAL, EXIT_REJECTED

    assert judge(RuntimeError("bug")).exit_code == EXIT_INTERNAL != EXIT_REJECTED

"""The process-wide runtime the functions share, built once from app settings."""

from __future__ import annotations

import threading

from shared.runtime import Runtime, from_environment

_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = from_environment()
        return _runtime


def reset_runtime() -> None:
    """Forget the cached runtime (tests change settings between cases)."""
    global _runtime
    with _lock:
        _runtime = None

"""The runtime the functions share, built once, and the startup check that decides whether it may be."""

from __future__ import annotations

import threading
from pathlib import Path

from shared.errors import ConfigurationError
from shared.runtime import Runtime, from_environment
from shared.settings import cannot_start, check_startup

APP_ROOT = Path(__file__).resolve().parents[1]  # where function_app.py, host.json and config/ are deployed
_lock = threading.Lock()
_state: dict[str, object] = {}  # "problems": the last startup check, "runtime": the built runtime


def startup_problems(fresh: bool = False) -> list[str]:
    """The settings, Key Vault references and configuration file, checked without the network
    once (function_app.py checks afresh at import)."""
    with _lock:
        if fresh or "problems" not in _state:
            _state["problems"] = check_startup(root=APP_ROOT)
        return _state["problems"]  # type: ignore[return-value]


def get_runtime() -> Runtime:
    """The runtime; raises ConfigurationError naming the startup problems, so nothing is built or sent."""
    problems = startup_problems()
    if problems:
        raise ConfigurationError(cannot_start(problems), problems)
    with _lock:
        if "runtime" not in _state:
            _state["runtime"] = from_environment(root=APP_ROOT)
        return _state["runtime"]  # type: ignore[return-value]


def reset_runtime() -> None:
    """Forget the runtime and the startup check (tests change settings between cases)."""
    with _lock:
        _state.clear()

"""The ``hubsync`` command: local runs, dry runs and operations over the same code the Azure
Functions run. ``app`` frames it (errors, exit codes, the runtime); each commands module adds
its commands."""

from shared.cli import demo_commands, ops_commands, sync_commands  # noqa: F401 - they register their commands
from shared.cli.app import app, main

__all__ = ["app", "main"]

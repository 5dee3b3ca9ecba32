"""The ``hubsync`` command's frame: the Typer apps, the consoles, building the runtime (with the
embedded emulator and demo database when the configuration asks), and the one mapping from
an error to a message and an exit code (``shared.errors.judge``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared import __version__, sync_logger
from shared.config import SyncConfig
from shared.errors import EXIT_CONFIG, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, HubsyncError, judge
from shared.redaction import scrub_secrets
from shared.settings import EMULATOR_TOKEN, Settings

HELP = """hubsync: keep HubSpot in sync with your SQL database.

Local runs, dry runs and operations over the same code the Azure Functions run.

Exit codes: 0 every row synced; 1 some rows were rejected or failed (see `status --rejected`);
2 configuration or usage error, found before anything was sent; 3 HubSpot, the database or the
queue was unavailable (nothing is lost: the next run picks up where this one stopped);
4 an internal error (a bug: run again with -v and report the traceback).
"""

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP, pretty_exceptions_enable=False,
                  rich_markup_mode=None)
poison_app = typer.Typer(help="Inspect and replay batches parked in the durable poison store.", no_args_is_help=True)
demo_app = typer.Typer(help="The embedded demo database (configs with demo: true only).", no_args_is_help=True)
app.add_typer(poison_app, name="poison")
app.add_typer(demo_app, name="demo")

# soft_wrap: a long error or a DDL line is never cut into pieces when stderr is a file or a CI log
out = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML configuration (default: $HUBSYNC_CONFIG).")]
ObjectOpt = Annotated[list[str] | None, typer.Option("--object", "-o", help="Only this object (repeatable).")]


class Options:
    verbose = False


def _version(value: bool) -> None:
    if value:
        out.print(f"hubsync {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every batch (put it before the command).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    Options.verbose = verbose
    sync_logger.configure(logging.INFO if verbose else logging.ERROR)


def fail(message: object, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def report(err: BaseException) -> int:
    """Print what went wrong and what to do; return the exit code. The one place the CLI maps errors."""
    code = judge(err).exit_code
    if isinstance(err, HubsyncError):
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
    elif code == EXIT_UNAVAILABLE:
        text = scrub_secrets(str(err).splitlines()[0] if str(err) else "")[:300]
        err_console.print(f"error: a service became unavailable: {type(err).__name__}: {text}", highlight=False)
    else:
        err_console.print(f"internal error: {type(err).__name__}: {err} (run with -v for the traceback)",
                          highlight=False)
    return code


@contextlib.contextmanager
def exits() -> Iterator[None]:
    """Turn any error into its message and exit code (an internal error keeps its traceback with -v)."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as err:
        if Options.verbose and judge(err).exit_code == EXIT_INTERNAL:
            raise
        raise typer.Exit(report(err)) from None


def hint(config_path: str | None, command: str) -> str:
    return f"hubsync {command}" + (f" -c {config_path}" if config_path else "")


@contextlib.contextmanager
def open_runtime(config_path: str | None, demo_setup: bool = False, hubspot: bool = True,
                 queues: bool = True) -> Iterator[Any]:
    """Build the runtime; start the embedded emulator and demo database when the config asks.
    Errors inside the block are reported with their exit code."""
    from shared.runtime import Runtime

    with exits():
        settings = Settings.from_env()
        config = settings.load_config(config_path)
        base_url = settings.hubspot_base_url
        with contextlib.ExitStack() as stack:
            if config.demo and demo_setup:
                _ensure_demo_db(settings, config)
            if hubspot and config.hubspot.mode == "emulator" and not base_url:
                base_url = stack.enter_context(_embedded_emulator(settings))
            settings.source_url_for(config)
            extra: dict[str, Any] = {}
            if not queues:
                from shared.queue.backends import MemoryQueue

                extra = {"queue": MemoryQueue(settings.queue_name), "poison_queue": MemoryQueue(settings.poison_queue_name)}
            rt = Runtime.build(settings, config, hubspot_base_url=base_url, **extra)
            if config.demo and demo_setup:
                rt.check_source()
                rt.state.init_db()
            yield rt


def _ensure_demo_db(settings: Settings, config: SyncConfig) -> None:
    from shared.demo import create_demo_database, sqlite_path

    url = settings.source_url_for(config)
    if url.startswith("sqlite:///") and not sqlite_path(url).exists():
        create_demo_database(url)
        err_console.print(f"[dim]created the demo database {sqlite_path(url)} (1,000 customers)[/]")


@contextlib.contextmanager
def _embedded_emulator(settings: Settings) -> Iterator[str]:
    from hubspot_emulator import Emulator

    token = settings.hubspot_token.get_secret_value() if settings.hubspot_token else EMULATOR_TOKEN
    data = Path(os.environ.get("HUBSYNC_EMULATOR_DATA", ".hubsync/emulator.json"))
    data.parent.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(token=token, port=0, data_file=str(data))
    emulator.start()
    err_console.print(f"[dim]hubspot.mode=emulator: local HubSpot emulator at {emulator.base_url} "
                      f"(records kept in {data})[/]")
    try:
        yield emulator.base_url
    finally:
        emulator.stop()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted: the watermark moved only for batches already enqueued; the next run resumes")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:
        if Options.verbose and judge(err).exit_code == EXIT_INTERNAL:
            raise
        sys.exit(report(err))

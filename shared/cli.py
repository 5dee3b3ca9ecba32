"""``hubsync``: local runs, dry runs and operations over the same code the Functions run.

Exit codes: 0 every row synced; 1 some rows were rejected or failed; 2 configuration or
usage error (nothing was written, the watermark did not move).
"""

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
from rich.table import Table

from shared import sync_logger
from shared.config import SyncConfig
from shared.errors import ConfigurationError, HubsyncError
from shared.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
poison_app = typer.Typer(help="Inspect and replay batches parked in the durable poison store.", no_args_is_help=True)
demo_app = typer.Typer(help="The embedded demo database.", no_args_is_help=True)
app.add_typer(poison_app, name="poison")
app.add_typer(demo_app, name="demo")

out = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML configuration (default: $HUBSYNC_CONFIG).")]
ObjectOpt = Annotated[list[str] | None, typer.Option("--object", "-o", help="Only this object (repeatable).")]


class _State:
    verbose = False


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every batch.")] = False) -> None:
    _State.verbose = verbose
    sync_logger.configure(logging.INFO if verbose else logging.ERROR)


def _fail(err: ConfigurationError) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {err}")
    return typer.Exit(2)


@contextlib.contextmanager
def _runtime(config_path: str | None, demo_setup: bool = False, hubspot: bool = True,
             queues: bool = True) -> Iterator[Any]:
    """Build the runtime; start the embedded emulator and demo database when the config asks."""
    from shared.runtime import Runtime, resolve_config, source_url

    try:
        settings = Settings.from_env()
        config = resolve_config(settings, config_path)
        base_url = settings.hubspot_base_url
        with contextlib.ExitStack() as stack:
            if config.demo and demo_setup:
                _ensure_demo_db(settings, config)
            if hubspot and config.hubspot.mode == "emulator" and not base_url:
                base_url = stack.enter_context(_embedded_emulator(settings, config))
            source_url(settings, config)
            extra: dict[str, Any] = {}
            if not queues:
                from shared.queues import MemoryQueue

                extra = {"queue": MemoryQueue(settings.queue_name), "poison_queue": MemoryQueue(settings.poison_queue_name)}
            rt = Runtime.build(settings, config, hubspot_base_url=base_url, **extra)
            if config.demo and demo_setup:
                rt.state.init_db()
            yield rt
    except ConfigurationError as err:
        raise _fail(err) from None


def _ensure_demo_db(settings: Settings, config: SyncConfig) -> None:
    from shared.demo import create_demo_database, sqlite_path
    from shared.runtime import source_url

    url = source_url(settings, config)
    if url.startswith("sqlite:///") and not sqlite_path(url).exists():
        create_demo_database(url)
        err_console.print(f"[dim]created the demo database {sqlite_path(url)} (1,000 customers)[/]")


@contextlib.contextmanager
def _embedded_emulator(settings: Settings, config: SyncConfig) -> Iterator[str]:
    from hubspot_emulator import Emulator
    from shared.runtime import EMULATOR_TOKEN

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


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    )


@app.command("init-db")
def init_db(config: ConfigOpt = None,
            print_sql: Annotated[bool, typer.Option("--print-sql", help="Print the DDL, change nothing.")] = False
            ) -> None:
    """Create hubsync's state tables in the source database (or print their DDL)."""
    with _runtime(config, hubspot=False, queues=False) as rt:
        if print_sql:
            out.print(rt.state.ddl(), markup=False, highlight=False)
            return
        try:
            rt.check_source()
            rt.state.init_db()
        except ConfigurationError as err:
            raise _fail(err) from None
        where = f"schema {rt.state.schema!r}" if rt.state.schema else f"tables prefixed {rt.state.prefix!r}"
        out.print(f"state tables ready ({where})")


@app.command()
def validate(config: ConfigOpt = None, obj: ObjectOpt = None) -> None:
    """Check the configuration, the source tables and columns, and the live HubSpot schema."""
    from shared.preflight import preflight, selected

    with _runtime(config, demo_setup=True) as rt:
        try:
            objects = selected(rt, obj)
            preflight(rt, objects)
        except ConfigurationError as err:
            raise _fail(err) from None
        for o in objects:
            out.print(f"[green]ok[/] {o.name}: {o.table} -> {o.object_type} ({len(o.fields)} fields, "
                      f"matched on {o.id_property})")


@app.command()
def plan(config: ConfigOpt = None, obj: ObjectOpt = None,
         sample: Annotated[int, typer.Option(help="Rows to show field changes for.")] = 5,
         full: Annotated[bool, typer.Option("--full", help="Consider every row, not just the delta.")] = False
         ) -> None:
    """Dry run: what a run would create, update, skip and reject. Writes nothing anywhere."""
    from shared.dry_run import preview
    from shared.preflight import preflight, selected

    with _runtime(config, demo_setup=True) as rt:
        try:
            objects = selected(rt, obj)
            schemas = preflight(rt, objects)
            previews = [preview(rt, o, schemas[o.object_type], sample, full) for o in objects]
        except ConfigurationError as err:
            raise _fail(err) from None
        except HubsyncError as err:
            err_console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(1) from None
    table = Table(title="plan (dry run: nothing written)")
    for col in ("object", "changed rows", "create", "update", "unchanged", "rejected", "missing"):
        table.add_column(col, justify="right" if col != "object" else "left")
    for p in previews:
        table.add_row(p.name, *(str(v) for v in (p.rows, p.create, p.update, p.unchanged, p.rejected, p.missing)))
    out.print(table)
    for p in previews:
        for s in p.samples:
            out.print(f"[bold]{p.name} {s.source_key}[/] {s.action}:")
            for name, (before, after) in s.changes.items():
                out.print(f"    {name}: {before!r} -> {after!r}", markup=False, highlight=False)
        for key, reason in p.rejections:
            out.print(f"[yellow]reject[/] {p.name} {key}: {reason}", highlight=False, soft_wrap=True)
    if any(p.rejected for p in previews):
        raise typer.Exit(1)


@app.command()
def run(config: ConfigOpt = None, obj: ObjectOpt = None,
        workers: Annotated[int, typer.Option(min=1, max=32, help="Worker threads draining the queue.")] = 4,
        full: Annotated[bool, typer.Option("--full", help="Re-read every row, not just the delta.")] = False
        ) -> None:
    """Plan the deltas, enqueue them, and drain the queue with N workers (the queue function's code)."""
    from shared.preflight import preflight, selected
    from shared.sync import run_sync

    with _runtime(config, demo_setup=True) as rt:
        try:
            objects = selected(rt, obj)
            preflight(rt, objects)
        except ConfigurationError as err:
            raise _fail(err) from None
        names = [o.name for o in objects]
        with _progress() as progress:
            reading = progress.add_task("reading deltas", total=None)
            syncing: list[Any] = []

            def planned(plan: Any) -> None:
                progress.remove_task(reading)
                syncing.append(progress.add_task("syncing batches", total=plan.batches))

            result = run_sync(rt, names, full, workers, on_page=lambda n: progress.advance(reading, n),
                              on_planned=planned, on_message=lambda: progress.advance(syncing[0]))
        if result.drain.fatal is not None:
            fatal = result.drain.fatal
            raise _fail(fatal if isinstance(fatal, ConfigurationError) else ConfigurationError(str(fatal)))
        summary, drained = result.run, result.drain
    _print_summary(summary, drained)
    if summary.get("rejected") or summary.get("failed"):
        raise typer.Exit(1)


def _print_summary(run: dict[str, Any], drained: Any) -> None:
    table = Table(title=f"run {run.get('run_id')}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("rows_read", "batches", "created", "updated", "unchanged", "rejected", "failed", "missing",
                 "api_calls"):
        table.add_row(name.replace("_", " "), str(run.get(name, 0)))
    table.add_row("batches retried", str(drained.retried))
    table.add_row("batches poisoned", str(drained.poisoned + drained.parked))
    out.print(table)
    if run.get("rejected") or run.get("failed"):
        out.print("rejected and failed rows keep their reasons: [bold]hubsync status --rejected[/]")


@app.command()
def status(config: ConfigOpt = None,
           limit: Annotated[int, typer.Option(help="How many recent runs.")] = 10,
           rejected: Annotated[bool, typer.Option("--rejected", help="List rejected and failed rows.")] = False
           ) -> None:
    """Recent runs and their counts; with --rejected, every rejected or failed row and why."""
    with _runtime(config, hubspot=False, queues=False) as rt:
        try:
            rt.state.check()
        except ConfigurationError as err:
            raise _fail(err) from None
        runs = rt.state.recent_runs(limit)
        if not runs:
            out.print("no runs yet")
        for r in runs:
            finished = f"{r['finished_at']:%H:%M:%S}" if r.get("finished_at") else "-"
            out.print(
                f"{r['run_id']}  {r['mode']:<5} {r['status']:<9} started {r['started_at']:%Y-%m-%d %H:%M:%S} "
                f"finished {finished}  read {r['rows_read']}  created {r['created']}  updated {r['updated']}  "
                f"unchanged {r['unchanged']}  rejected {r['rejected']}  failed {r['failed']}  "
                f"missing {r['missing']}  api calls {r['api_calls']}",
                highlight=False, markup=False, soft_wrap=True,
            )
            if r.get("error"):
                out.print(f"    error: {r['error']}", highlight=False, markup=False, soft_wrap=True)
        if rejected:
            for o in rt.config.objects:
                for rec in rt.state.all_records(o.name):
                    if rec.last_outcome in ("rejected", "failed"):
                        out.print(f"{o.name} {rec.source_key} {rec.last_outcome}: {rec.reason}", highlight=False,
                                  markup=False, soft_wrap=True)


@poison_app.command("list")
def poison_list(config: ConfigOpt = None) -> None:
    """Parked batches with the error that sent them there."""
    with _runtime(config, hubspot=False, queues=False) as rt:
        for p in rt.state.list_poison():
            out.print(f"#{p['id']} {p['received_at']:%Y-%m-%d %H:%M} batch {p['batch_id']}: {p['error']}",
                      highlight=False, markup=False, soft_wrap=True)


@poison_app.command("replay")
def poison_replay(config: ConfigOpt = None,
                  poison_id: Annotated[int | None, typer.Option("--id", help="One parked batch.")] = None,
                  all_: Annotated[bool, typer.Option("--all", help="Every parked batch.")] = False) -> None:
    """Send parked batches through the worker again (after fixing their cause)."""
    if poison_id is None and not all_:
        err_console.print("error: give --id N or --all")
        raise typer.Exit(2)
    with _runtime(config) as rt:
        handler = rt.handler()
        if not rt.durable_queue:
            handler.queue = None  # a 429 must fail the replay, not defer into a queue that dies with us
        failures = 0
        for p in rt.state.list_poison():
            if poison_id is not None and p["id"] != poison_id:
                continue
            try:
                outcome = handler.handle(p["body"], 1, p.get("message_id"))
            except HubsyncError as err:
                failures += 1
                out.print(f"#{p['id']} still failing: {err}", highlight=False, markup=False)
                continue
            if outcome == "parked":
                failures += 1
                out.print(f"#{p['id']} parked again (see hubsync poison list)")
                continue
            rt.state.mark_replayed(p["id"])  # done, or re-queued on the durable queue
            out.print(f"#{p['id']} replayed: {outcome}")
    if failures:
        raise typer.Exit(1)


@demo_app.command("init")
def demo_init(config: ConfigOpt = None, rows: int = 1000,
              force: Annotated[bool, typer.Option("--force", help="Recreate it.")] = False) -> None:
    """Create the demo SQLite database and hubsync's state tables."""
    from shared.demo import create_demo_database
    from shared.runtime import resolve_config, source_url

    try:
        settings = Settings.from_env()
        cfg = resolve_config(settings, config)
        url = source_url(settings, cfg)
        create_demo_database(url, rows=rows, force=force)
    except (ConfigurationError, ValueError) as err:
        raise _fail(err if isinstance(err, ConfigurationError) else ConfigurationError(str(err))) from None
    with _runtime(config, hubspot=False, queues=False) as rt:
        rt.state.init_db()
    out.print(f"demo database ready: {url}")


@demo_app.command("edit")
def demo_edit(config: ConfigOpt = None,
              percent: Annotated[float, typer.Option(help="Share of rows to change.")] = 1.0) -> None:
    """Change some demo rows, as the business would between two runs."""
    from shared.demo import edit_rows

    with _runtime(config, hubspot=False, queues=False) as rt:
        changed = edit_rows(rt.engine, percent)
    out.print(f"changed {len(changed)} customers: {', '.join(map(str, changed[:20]))}"
              f"{' ...' if len(changed) > 20 else ''}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted: the watermark moved only for batches already enqueued")
        sys.exit(130)


if __name__ == "__main__":
    main()

"""hubsync: keep HubSpot in sync with your SQL database.

Local runs, dry runs and operations over the same code the Azure Functions run.

Exit codes: 0 every row synced; 1 some rows were rejected or failed (see `status --rejected`);
2 configuration or usage error, found before anything was sent; 3 HubSpot, the database or the
queue was unavailable (nothing is lost: the next run picks up where this one stopped).
"""

from __future__ import annotations

import contextlib
import json
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

from shared import __version__, sync_logger
from shared.config import SyncConfig
from shared.errors import ConfigurationError, HubsyncError, RetryableError
from shared.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False,
                  rich_markup_mode=None)
poison_app = typer.Typer(help="Inspect and replay batches parked in the durable poison store.", no_args_is_help=True)
demo_app = typer.Typer(help="The embedded demo database (configs with demo: true only).", no_args_is_help=True)
app.add_typer(poison_app, name="poison")
app.add_typer(demo_app, name="demo")

# soft_wrap: a long error or a DDL line is never cut into pieces when stderr is a file or a CI log
out = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_REJECTED, EXIT_CONFIG, EXIT_UNAVAILABLE = 1, 2, 3

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML configuration (default: $HUBSYNC_CONFIG).")]
ObjectOpt = Annotated[list[str] | None, typer.Option("--object", "-o", help="Only this object (repeatable).")]


class _State:
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
    _State.verbose = verbose
    sync_logger.configure(logging.INFO if verbose else logging.ERROR)


def _fail(err: BaseException, code: int = EXIT_CONFIG) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {err}", highlight=False)
    return typer.Exit(code)


def _hint(config_path: str | None, command: str) -> str:
    return f"hubsync {command}" + (f" -c {config_path}" if config_path else "")


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
                from shared.queue.backends import MemoryQueue

                extra = {"queue": MemoryQueue(settings.queue_name), "poison_queue": MemoryQueue(settings.poison_queue_name)}
            rt = Runtime.build(settings, config, hubspot_base_url=base_url, **extra)
            if config.demo and demo_setup:
                rt.check_source()
                rt.state.init_db()
            yield rt
    except ConfigurationError as err:
        raise _fail(err) from None
    except RetryableError as err:
        raise _fail(err, EXIT_UNAVAILABLE) from None


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


def _target(rt: Any) -> str:
    return f"{rt.writer.base_url} ({rt.config.hubspot.mode})"


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
    from shared.sync.preflight import preflight, selected

    with _runtime(config, demo_setup=True) as rt:
        try:
            objects = selected(rt, obj)
            preflight(rt, objects, hint=_hint(config, "init-db"))
        except ConfigurationError as err:
            raise _fail(err) from None
        except RetryableError as err:
            raise _fail(err, EXIT_UNAVAILABLE) from None
        out.print(f"HubSpot: {_target(rt)}", highlight=False)
        for o in objects:
            out.print(f"ok {o.name}: {o.table} -> {o.object_type} ({len(o.fields)} fields, "
                      f"matched on {o.id_property}, watermark {o.watermark.column} ({o.watermark.kind}))",
                      highlight=False)


@app.command()
def plan(config: ConfigOpt = None, obj: ObjectOpt = None,
         sample: Annotated[int, typer.Option(min=0, help="Rows to show field changes for.")] = 5,
         full: Annotated[bool, typer.Option("--full", help="Consider every row, not just the delta.")] = False
         ) -> None:
    """Dry run: what a run would create, update, skip and reject. Writes nothing anywhere."""
    from shared.sync.dry_run import preview
    from shared.sync.preflight import preflight, selected

    with _runtime(config, demo_setup=True) as rt:
        try:
            objects = selected(rt, obj)
            schemas = preflight(rt, objects, hint=_hint(config, "init-db"))
            previews = [preview(rt, o, schemas[o.object_type], sample, full) for o in objects]
        except ConfigurationError as err:
            raise _fail(err) from None
        except RetryableError as err:
            raise _fail(err, EXIT_UNAVAILABLE) from None
        target = _target(rt)
    table = Table(title=f"plan for {target} (dry run: nothing written)")
    for col in ("object", "changed rows", "create", "update", "unchanged", "rejected", "missing"):
        table.add_column(col, justify="right" if col != "object" else "left")
    for p in previews:
        table.add_row(p.name, *(str(v) for v in (p.rows, p.create, p.update, p.unchanged, p.rejected, p.missing)))
    out.print(table)
    for p in previews:
        for s in p.samples:
            out.print(f"{p.name} {s.source_key} {s.action}:" + ("" if s.changes else " (no field changes)"),
                      highlight=False, markup=False)
            for name, (before, after) in s.changes.items():
                out.print(f"    {name}: {before or ''!r} -> {after!r}", markup=False, highlight=False)
        for key, reason in p.rejections:
            out.print(f"reject {p.name} {key}: {reason}", highlight=False, markup=False)
        if p.rejected > len(p.rejections):
            out.print(f"... and {p.rejected - len(p.rejections)} more rejected rows", highlight=False)
    if any(p.rejected for p in previews):
        raise typer.Exit(EXIT_REJECTED)


@app.command()
def run(config: ConfigOpt = None, obj: ObjectOpt = None,
        workers: Annotated[int, typer.Option(min=1, max=32, help="Worker threads draining the queue.")] = 4,
        full: Annotated[bool, typer.Option("--full", help="Re-read every row, not just the delta.")] = False,
        retry_rejected: Annotated[bool, typer.Option(
            "--retry-rejected", help="Also send again every row whose last outcome was rejected or failed "
                                     "(after fixing the mapping or the data).")] = False,
        ) -> None:
    """Plan the deltas, enqueue them, and drain the queue with N workers (the queue function's code)."""
    from shared.sync.preflight import preflight, selected
    from shared.sync.run import run_sync

    with _runtime(config, demo_setup=True) as rt:
        try:
            objects = selected(rt, obj)
            preflight(rt, objects, hint=_hint(config, "init-db"))
        except ConfigurationError as err:
            raise _fail(err) from None
        except RetryableError as err:
            raise _fail(err, EXIT_UNAVAILABLE) from None
        names = [o.name for o in objects]
        with _progress() as progress:
            reading = progress.add_task("reading deltas", total=None)
            syncing: list[Any] = []

            def planned(plan: Any) -> None:
                progress.remove_task(reading)
                syncing.append(progress.add_task("syncing batches", total=plan.batches))

            result = run_sync(rt, names, full, workers, on_page=lambda n: progress.advance(reading, n),
                              on_planned=planned, on_message=lambda: progress.advance(syncing[0]),
                              retry_rejected=retry_rejected)
        summary, drained = result.run, result.drain
    _print_summary(summary, drained, config)
    if drained.fatal is not None:
        fatal = drained.fatal
        code = EXIT_CONFIG if isinstance(fatal, ConfigurationError) else EXIT_UNAVAILABLE
        raise _fail(f"{fatal} — the watermark did not move; run again once this is fixed", code)
    if summary.get("rejected") or summary.get("failed"):
        raise typer.Exit(EXIT_REJECTED)


def _print_summary(run: dict[str, Any], drained: Any, config_path: str | None) -> None:
    table = Table(title=f"run {run.get('run_id')} ({run.get('status')})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("rows_read", "batches", "created", "updated", "unchanged", "rejected", "failed", "missing",
                 "api_calls"):
        table.add_row(name.replace("_", " "), str(run.get(name, 0)))
    table.add_row("batches retried", str(drained.retried))
    table.add_row("batches poisoned", str(drained.poisoned + drained.parked))
    out.print(table)
    if run.get("rejected") or run.get("failed"):
        out.print(f"rejected and failed rows keep their reasons: {_hint(config_path, 'status --rejected')}",
                  highlight=False)


def _key_text(obj: Any, source_key: str) -> str:
    try:
        values = json.loads(source_key)
    except ValueError:
        return source_key
    return ", ".join(f"{c}={v}" for c, v in zip(obj.key, values, strict=False))


@app.command()
def status(config: ConfigOpt = None,
           limit: Annotated[int, typer.Option(min=1, help="How many recent runs.")] = 10,
           rejected: Annotated[bool, typer.Option("--rejected", help="Rows whose last outcome is rejected or failed, "
                                                                     "grouped by reason.")] = False,
           examples: Annotated[int, typer.Option(min=1, help="With --rejected: keys shown per reason.")] = 5,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
           ) -> None:
    """Recent runs and their counts (times in UTC); with --rejected, what to fix and where."""
    with _runtime(config, hubspot=False, queues=False) as rt:
        try:
            rt.state.check(hint=_hint(config, "init-db"))
        except ConfigurationError as err:
            raise _fail(err) from None
        runs = rt.state.recent_runs(limit)
        problems = _grouped_problems(rt) if rejected else []
    if as_json:
        payload: dict[str, Any] = {"runs": runs}
        if rejected:
            payload["problems"] = problems
        out.print_json(json.dumps(payload, default=str))
        return
    if not runs:
        out.print("no runs yet")
    for r in runs:
        finished = f"{r['finished_at']:%H:%M:%S}" if r.get("finished_at") else "-"
        out.print(
            f"{r['run_id']}  {r['status']:<11} {r['started_at']:%Y-%m-%d %H:%M:%S}-{finished} UTC  "
            f"read {r['rows_read']}  created {r['created']}  updated {r['updated']}  unchanged {r['unchanged']}  "
            f"rejected {r['rejected']}  failed {r['failed']}  api calls {r['api_calls']}",
            highlight=False, markup=False,
        )
        if r.get("error"):
            out.print(f"    error: {r['error']}", highlight=False, markup=False)
    if rejected:
        if not problems:
            out.print("no rejected or failed rows")
        for p in problems:
            keys = "; ".join(p["keys"][:examples]) + (" ..." if p["count"] > examples else "")
            out.print(f"{p['object']} {p['outcome']} x{p['count']}: {p['reason']}\n    rows: {keys}",
                      highlight=False, markup=False)


def _grouped_problems(rt: Any) -> list[dict[str, Any]]:
    problems = []
    for o in rt.config.objects:
        groups: dict[tuple[str, str], list[str]] = {}
        for rec in rt.state.all_records(o.name):
            if rec.last_outcome in ("rejected", "failed"):
                groups.setdefault((rec.last_outcome, rec.reason or ""), []).append(_key_text(o, rec.source_key))
        for (outcome, reason), keys in sorted(groups.items(), key=lambda g: -len(g[1])):
            problems.append({"object": o.name, "outcome": outcome, "reason": reason, "count": len(keys), "keys": keys})
    return problems


@app.command()
def inspect(key: Annotated[list[str], typer.Argument(help="The row's key value(s), in the configured key order.")],
            config: ConfigOpt = None,
            obj: Annotated[str | None, typer.Option("--object", "-o", help="Object (default: the first).")] = None,
            ) -> None:
    """One row end to end: the SQL row, its mapped payload or rejection, its state, its HubSpot record."""
    from shared.source.sql_reader import key_to_json
    from shared.sync.batch_processor import assess

    with _runtime(config) as rt:
        try:
            o = rt.config.object(obj) if obj else rt.config.objects[0]
            if len(key) != len(o.key):
                raise ConfigurationError(f"{o.name} has a key of {len(o.key)} column(s) ({', '.join(o.key)}); "
                                         f"give {len(o.key)} value(s)")
            source = rt.source_table(o)
            typed = tuple(source.coerce(col, int(v) if v.lstrip("-").isdigit() else v)
                          for col, v in zip(source.key_cols, key, strict=True))
            kj = key_to_json(typed)
            rows = source.read_rows([typed])
            state = rt.state.get_records(o.name, [kj]).get(kj)
            schema = rt.schemas.get(o.object_type)
        except ConfigurationError as err:
            raise _fail(err) from None
        except RetryableError as err:
            raise _fail(err, EXIT_UNAVAILABLE) from None
        row = rows.get(kj)
        out.print(f"{o.name} {_key_text(o, kj)}", highlight=False, markup=False)
        out.print(f"  SQL row: {dict(row.row) if row else 'not in the source'}", highlight=False, markup=False)
        if row:
            settled, _tally, candidates = assess(o, schema, [kj], rows, {kj: state} if state else {})
            if candidates:
                c = candidates[0]
                out.print(f"  payload ({'changed since HubSpot last accepted it' if state else 'never sent'}): "
                          f"{c.mapped.properties}", highlight=False, markup=False)
            for st in settled:
                out.print(f"  now: {st.last_outcome}{': ' + st.reason if st.reason else ''}", highlight=False,
                          markup=False)
        if state:
            out.print(f"  state: last outcome {state.last_outcome} (run {state.run_id}), HubSpot id "
                      f"{state.hubspot_id}, version {state.source_version}"
                      + (f", reason: {state.reason}" if state.reason else ""), highlight=False, markup=False)
            if state.hubspot_id:
                found = rt.writer.read(o.object_type, [state.hubspot_id], list(o.fields))
                record = found.get(state.hubspot_id)
                out.print(f"  HubSpot record: {record['properties'] if record else 'not found (deleted in HubSpot?)'}",
                          highlight=False, markup=False)
        else:
            out.print("  state: never synced", highlight=False)


@poison_app.command("list")
def poison_list(config: ConfigOpt = None) -> None:
    """Parked batches with the error that sent them there."""
    with _runtime(config, hubspot=False, queues=False) as rt:
        parked = rt.state.list_poison()
        if not parked:
            out.print("no parked batches")
        for p in parked:
            out.print(f"#{p['id']} {p['received_at']:%Y-%m-%d %H:%M} UTC batch {p['batch_id']}: {p['error']}",
                      highlight=False, markup=False)


@poison_app.command("replay")
def poison_replay(config: ConfigOpt = None,
                  poison_id: Annotated[int | None, typer.Option("--id", help="One parked batch.")] = None,
                  all_: Annotated[bool, typer.Option("--all", help="Every parked batch.")] = False) -> None:
    """Send parked batches through the worker again (after fixing their cause)."""
    if (poison_id is None) == (not all_):
        err_console.print("error: give either --id N or --all")
        raise typer.Exit(EXIT_CONFIG)
    with _runtime(config) as rt:
        parked = [p for p in rt.state.list_poison() if poison_id is None or p["id"] == poison_id]
        if poison_id is not None and not parked:
            raise _fail(f"no parked batch #{poison_id} (see {_hint(config, 'poison list')})")
        handler = rt.handler()
        if not rt.durable_queue:
            handler.queue = None  # a 429 must fail the replay, not defer into a queue that dies with us
        failures = 0
        for p in parked:
            try:
                outcome = handler.handle(p["body"], 1, p.get("message_id"))
            except Exception as err:  # noqa: BLE001 - reported per batch; the batch stays parked
                failures += 1
                text = f"{type(err).__name__}: {err}"[:2000]
                rt.state.update_poison_error(p["id"], text)
                out.print(f"#{p['id']} still failing: {text}", highlight=False, markup=False)
                continue
            if outcome == "parked":
                failures += 1
                out.print(f"#{p['id']} parked again (see {_hint(config, 'poison list')})", highlight=False)
                continue
            rt.state.mark_replayed(p["id"])  # done, or re-queued on the durable queue
            out.print(f"#{p['id']} replayed: {outcome}")
    if failures:
        raise typer.Exit(EXIT_REJECTED)


def _demo_config(config: str | None) -> tuple[Settings, SyncConfig, str]:
    from shared.runtime import resolve_config, source_url

    settings = Settings.from_env()
    cfg = resolve_config(settings, config)
    if not cfg.demo:
        raise ConfigurationError(
            "demo commands change or replace the source database: they run only on a configuration with "
            "'demo: true' (like examples/demo.yaml)")
    return settings, cfg, source_url(settings, cfg)


@demo_app.command("init")
def demo_init(config: ConfigOpt = None,
              rows: Annotated[int, typer.Option(min=1, max=1_000_000, help="Customers to generate.")] = 1000,
              force: Annotated[bool, typer.Option("--force", help="Recreate it.")] = False) -> None:
    """Create the demo SQLite database and hubsync's state tables."""
    from shared.demo import create_demo_database

    try:
        _settings, _cfg, url = _demo_config(config)
        create_demo_database(url, rows=rows, force=force)
    except (ConfigurationError, ValueError) as err:
        raise _fail(err) from None
    with _runtime(config, hubspot=False, queues=False) as rt:
        rt.state.init_db()
    out.print(f"demo database ready: {url}", highlight=False)


@demo_app.command("edit")
def demo_edit(config: ConfigOpt = None,
              percent: Annotated[float, typer.Option(min=0.01, max=100.0,
                                                     help="Percentage of the customers to change (1 = 1%).")] = 1.0
              ) -> None:
    """Change some demo rows, as the business would between two runs."""
    from shared.demo import edit_rows

    try:
        _demo_config(config)
    except ConfigurationError as err:
        raise _fail(err) from None
    with _runtime(config, hubspot=False, queues=False) as rt:
        changed = edit_rows(rt.engine, percent)
    noun = "customer" if len(changed) == 1 else "customers"
    out.print(f"changed {len(changed)} {noun}: {', '.join(map(str, changed[:20]))}"
              f"{' ...' if len(changed) > 20 else ''}", highlight=False)


def _db_unavailable() -> type[Exception]:
    from sqlalchemy.exc import OperationalError

    return OperationalError


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted: the watermark moved only for batches already enqueued; the next run resumes")
        sys.exit(130)
    except RetryableError as err:
        err_console.print(f"error: {err}", highlight=False)
        sys.exit(EXIT_UNAVAILABLE)
    except (OSError, _db_unavailable()) as err:
        err_console.print(f"error: a service became unavailable: {type(err).__name__}: "
                          f"{sync_logger.scrub_secrets(str(err).splitlines()[0] if str(err) else '')[:300]}",
                          highlight=False)
        sys.exit(EXIT_UNAVAILABLE)
    except HubsyncError as err:
        err_console.print(f"error: {err}", highlight=False)
        sys.exit(EXIT_CONFIG)
    except Exception as err:
        if _State.verbose:
            raise
        err_console.print(f"internal error: {type(err).__name__}: {err} (run with -v for the traceback)",
                          highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()

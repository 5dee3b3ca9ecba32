"""``hubsync init-db``, ``validate``, ``plan`` (the dry run) and ``run``."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.cli.app import (
    ConfigOpt,
    ObjectOpt,
    app,
    err_console,
    exits,
    fail,
    hint,
    open_runtime,
    out,
    progress_bar,
)
from shared.errors import EXIT_REJECTED, judge
from shared.settings import Settings
from shared.state import run_seconds


def _target(rt: Any) -> str:
    return f"{rt.writer.base_url} ({rt.config.hubspot.mode})"


@app.command("init-db")
def init_db(config: ConfigOpt = None,
            print_sql: Annotated[bool, typer.Option("--print-sql", help="Print the DDL, change nothing.")] = False,
            grant_to: Annotated[str | None, typer.Option(
                "--grant-to", metavar="IDENTITY",
                help="Also give IDENTITY (the Function App's identity: output identityName) what hubsync needs: a "
                     "database user (SQL Server: from Microsoft Entra ID), SELECT on the source tables, read and "
                     "write on the state tables.")] = None,
            ) -> None:
    """Create hubsync's state tables in the source database (or print their DDL). Run it as the
    database's owner or Microsoft Entra admin: the app's identity itself never needs DDL."""
    from shared.readiness import apply_grants, grant_statements

    with open_runtime(config, hubspot=False, queues=False) as rt:
        grants = grant_statements(rt, grant_to) if grant_to else []
        if print_sql:
            out.print(rt.state.ddl() + "".join(f"\n{g};\n" for g in grants), markup=False, highlight=False)
            return
        rt.check_source()
        rt.state.init_db()
        where = f"schema {rt.state.schema!r}" if rt.state.schema else f"tables prefixed {rt.state.prefix!r}"
        out.print(f"state tables ready ({where})")
        if grant_to:
            apply_grants(rt, grants)
            out.print(f"granted to {grant_to}: " + "; ".join(grants), markup=False, highlight=False)


@app.command()
def validate(config: ConfigOpt = None, obj: ObjectOpt = None,
             offline: Annotated[bool, typer.Option(
                 "--offline", help="Check only the settings and the configuration file: no database, no HubSpot "
                                   "(before a deployment).")] = False,
             ) -> None:
    """Check the configuration, the source tables and columns, and the live HubSpot schema."""
    from shared.sync.preflight import preflight, selected

    if offline:
        with exits():
            settings = Settings.from_env()
            checked = settings.load_config(config)
        names = ", ".join(o.name for o in checked.objects)
        out.print(f"ok {config or settings.config_path}: {len(checked.objects)} object(s) ({names})", highlight=False)
        return
    with open_runtime(config, demo_setup=True) as rt:
        objects = selected(rt, obj)
        preflight(rt, objects, hint=hint(config, "init-db"))
        out.print(f"HubSpot: {_target(rt)}", highlight=False)
        for o in objects:
            nulls = rt.delta_source(o).unversioned()
            if nulls:
                out.print(f"warning {o.name}: {len(nulls)}{'+' if len(nulls) == 1000 else ''} row(s) have a NULL "
                          f"{o.watermark.column}; runs reject them until they have one", highlight=False)
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

    with open_runtime(config, demo_setup=True) as rt:
        objects = selected(rt, obj)
        schemas = preflight(rt, objects, hint=hint(config, "init-db"))
        previews = [preview(rt, o, schemas[o.object_type], sample, full) for o in objects]
        target = _target(rt)
    table = Table(title=f"plan for {target} (dry run: nothing written)")
    linking = any(o.associations for o in objects)
    for col in ("object", "changed rows", "create", "update", "adopt", "unchanged", "rejected", "missing",
                *(("link", "unlink", "link waits") if linking else ())):
        table.add_column(col, justify="right" if col != "object" else "left")
    for p in previews:
        n = p.counts
        links = (n.linked, n.unlinked, n.link_pending) if linking else ()
        table.add_row(p.name, *(str(v) for v in (p.rows, n.created, n.updated, n.adopted, n.unchanged, n.rejected,
                                                 n.missing, *links)))
    out.print(table)
    for p in previews:
        for s in p.samples:
            out.print(f"{p.name} {s.source_key} {s.action}:" + ("" if s.changes else " (no field changes)"),
                      highlight=False, markup=False)
            for name, (before, after) in s.changes.items():
                out.print(f"    {name}: {before or ''!r} -> {after!r}", markup=False, highlight=False)
        for key, reason in p.rejections:
            out.print(f"reject {p.name} {key}: {reason}", highlight=False, markup=False)
        if p.counts.rejected > len(p.rejections):
            out.print(f"... and {p.counts.rejected - len(p.rejections)} more rejected rows", highlight=False)
    if any(p.counts.rejected for p in previews):
        raise typer.Exit(EXIT_REJECTED)


@app.command()
def run(config: ConfigOpt = None, obj: ObjectOpt = None,
        workers: Annotated[int, typer.Option(min=1, max=32, help="Worker threads draining the queue.")] = 4,
        full: Annotated[bool, typer.Option("--full", help="Re-read every row, not just the delta.")] = False,
        retry_rejected: Annotated[bool, typer.Option(
            "--retry-rejected", help="Also send again every row whose last outcome was rejected or failed "
                                     "(after fixing the mapping or the data).")] = False,
        progress_seconds: Annotated[float, typer.Option(
            "--progress-seconds", min=0.1,
            help="When output is not a terminal: seconds between progress lines.")] = 10.0,
        ) -> None:
    """Plan the deltas, enqueue them, and drain the queue with N workers (the queue function's code)."""
    from shared.sync.preflight import preflight, selected
    from shared.sync.progress import Progress, ProgressTicker
    from shared.sync.run import run_sync

    with open_runtime(config, demo_setup=True) as rt:
        objects = selected(rt, obj)
        preflight(rt, objects, hint=hint(config, "init-db"))
        names = [o.name for o in objects]
        counts = Progress(rt.writer)
        ticker = ProgressTicker(counts, progress_seconds, None if err_console.is_terminal else
                                lambda line: out.print(line, highlight=False, markup=False))
        with progress_bar() as progress, (ticker if not err_console.is_terminal else contextlib.nullcontext()):
            # with the in-process queue, batches are synced while the deltas are still being read
            reading = progress.add_task("reading deltas", total=None)
            syncing = progress.add_task("syncing batches", total=None)

            def page(n: int) -> None:
                counts.read(n)
                progress.advance(reading, n)

            def planned(plan: Any) -> None:
                counts.batches_total = plan.batches
                progress.remove_task(reading)
                progress.update(syncing, total=plan.batches)

            def message() -> None:
                counts.batch_done()
                progress.advance(syncing)

            result = run_sync(rt, names, full, workers, on_page=page, on_planned=planned, on_message=message,
                              retry_rejected=retry_rejected)
        summary, drained = result.run, result.drain
        waiting = sum(c.get("pending", 0) + c.get("failed", 0) for c in rt.state.link_counts(names).values())
    _print_summary(summary, drained, config, waiting if any(o.associations for o in objects) else None)
    if result.earlier_batches:
        out.print(f"also finished {result.earlier_batches} batch(es) left by earlier runs; their rows count in "
                  f"those runs ({hint(config, 'status')})", highlight=False)
    if drained.fatal is not None:
        fatal = drained.fatal
        raise fail(f"{fatal} — the watermark did not move; run again once this is fixed", judge(fatal).exit_code)
    if summary.get("rejected") or summary.get("failed"):
        raise typer.Exit(EXIT_REJECTED)


def _print_summary(run: dict[str, Any], drained: Any, config_path: str | None, links_waiting: int | None = None) -> None:
    table = Table(title=f"run {run.get('run_id')} ({run.get('status')})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("rows_read", "batches", "created", "updated", "adopted", "unchanged", "rejected", "failed", "missing",
                 "api_calls"):
        table.add_row(name.replace("_", " "), str(run.get(name, 0)))
    if links_waiting is not None:
        table.add_row("associations made", str(run.get("linked") or 0))
        table.add_row("associations removed", str(run.get("unlinked") or 0))
        table.add_row("associations pending or failed", str(links_waiting))
    table.add_row("batches retried", str(drained.retried))
    table.add_row("batches poisoned", str(drained.poisoned + drained.parked))
    seconds = run_seconds(run)
    if seconds is not None:
        table.add_row("duration", f"{seconds:.1f} s")
        table.add_row("rows per second", f"{run.get('rows_read', 0) / max(seconds, 0.001):.0f}")
    out.print(table)
    if run.get("rejected") or run.get("failed") or links_waiting:
        out.print(f"rejected and failed rows, and associations that wait, keep their reasons: "
                  f"{hint(config_path, 'status --rejected')}", highlight=False)

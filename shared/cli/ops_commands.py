"""``hubsync status``, ``inspect`` and ``poison list|replay``: what happened, and repairs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from shared.cli.app import ConfigOpt, app, err_console, fail, hint, open_runtime, out, poison_app
from shared.errors import EXIT_CONFIG, EXIT_REJECTED, ConfigurationError


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
    with open_runtime(config, hubspot=False, queues=False) as rt:
        rt.state.check(hint=hint(config, "init-db"))
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
            f"read {r['rows_read']}  created {r['created']}  updated {r['updated']}  adopted {r['adopted']}  "
            f"unchanged {r['unchanged']}  "
            f"rejected {r['rejected']}  failed {r['failed']}  linked {r.get('linked') or 0}  "
            f"unlinked {r.get('unlinked') or 0}  api calls {r['api_calls']}",
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
        if o.associations:  # links that wait for their target, or that HubSpot refused
            links: dict[tuple[str, str], list[str]] = {}
            for link in rt.state.unmade_links(o.name, limit=100_000):
                outcome = f"association to {link.to_object} {link.status}"
                links.setdefault((outcome, link.reason or ""), []).append(_key_text(o, link.source_key))
            for (outcome, reason), keys in sorted(links.items(), key=lambda g: -len(g[1])):
                problems.append({"object": o.name, "outcome": outcome, "reason": reason, "count": len(keys),
                                 "keys": keys})
    return problems


@app.command()
def inspect(key: Annotated[list[str], typer.Argument(help="The row's key value(s), in the configured key order.")],
            config: ConfigOpt = None,
            obj: Annotated[str | None, typer.Option("--object", "-o", help="Object (default: the first).")] = None,
            ) -> None:
    """One row end to end: the SQL row, its mapped payload or rejection, its state, its HubSpot record."""
    from shared.keys import key_to_json
    from shared.sync.assessment import assess

    with open_runtime(config) as rt:
        rt.state.check(hint=hint(config, "init-db"))
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
        for link in rt.state.links_of(o.name, [kj]).values():
            target = rt.config.object(link.to_object) if link.to_object in {x.name for x in rt.config.objects} else None
            where = _key_text(target, link.to_key) if target and link.to_key else "none (the foreign key is NULL)"
            ids = f" (HubSpot {link.from_id} -> {link.to_id})" if link.status == "made" else ""
            out.print(f"  association to {link.to_object} {where}: {link.status}{ids}"
                      + (f", {link.reason}" if link.reason else ""), highlight=False, markup=False)
        if row is None and state is None:
            raise fail(f"{o.name} has no row with key {_key_text(o, kj)} in {o.table}, and hubsync never saw one")


@app.command()
def reset(objects: Annotated[list[str], typer.Argument(help="Object name(s) to read again from the start.")],
          config: ConfigOpt = None) -> None:
    """Rewind objects' watermarks: the next run reads every row again (after a table or watermark
    column change). Rows HubSpot already holds unchanged cost no calls; nothing else is forgotten."""
    with open_runtime(config, hubspot=False, queues=False) as rt:
        rt.state.check(hint=hint(config, "init-db"))
        for name in objects:
            rt.config.object(name)  # an unknown name is refused before anything changes
        for name in objects:
            rt.state.reset_position(name)
            rt.state.forget_versions(name)
            out.print(f"{name}: the next run reads every row again", highlight=False)


@poison_app.command("list")
def poison_list(config: ConfigOpt = None) -> None:
    """Parked batches with the error that sent them there."""
    with open_runtime(config, hubspot=False, queues=False) as rt:
        rt.state.check(hint=hint(config, "init-db"))
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
    with open_runtime(config) as rt:
        rt.state.check(hint=hint(config, "init-db"))
        parked = [p for p in rt.state.list_poison() if poison_id is None or p["id"] == poison_id]
        if poison_id is not None and not parked:
            raise fail(f"no parked batch #{poison_id} (see {hint(config, 'poison list')})")
        handler = rt.handler()
        if not rt.durable_queue:
            handler.queue = None  # a 429 must fail the replay, not defer into a queue that dies with us
        failures = 0
        for p in parked:
            try:
                outcome = handler.handle(p["body"], 1, p.get("message_id"), park=False)
            except Exception as err:  # noqa: BLE001 - reported per batch; the batch stays parked
                failures += 1
                text = f"{type(err).__name__}: {err}"[:2000]
                rt.state.update_poison_error(p["id"], text)
                out.print(f"#{p['id']} still failing: {text}", highlight=False, markup=False)
                continue
            rt.state.mark_replayed(p["id"])  # done, or re-queued on the durable queue
            out.print(f"#{p['id']} replayed: {outcome}")
    if failures:
        raise typer.Exit(EXIT_REJECTED)

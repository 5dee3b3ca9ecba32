"""The saved queries read what the app sends: customDimensions that sync_logger's events carry
(found in the code, call by call), not fields parsed out of message text; host.json, the app
settings and the docs wire the OpenTelemetry export (shared/telemetry.py) and name real log
categories."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from . import INFRA_DIR, REPO_ROOT, parse_bicep, site_app_settings

pytestmark = pytest.mark.infra

QUERIES = sorted((INFRA_DIR / "queries").glob("*.kql"))
CODE = sorted([*(REPO_ROOT / "shared").rglob("*.py"), *(REPO_ROOT / "functions").glob("*.py"),
               REPO_ROOT / "function_app.py"])


OPEN = "<fields known only at run time>"


def _batch_counts() -> set[str]:
    from shared.sync.assessment import BatchCounts

    return {f.name for f in dataclasses.fields(BatchCounts)}


def _module_constant(tree: ast.Module, name: str) -> object:
    """A constant a module defines or imports (``from shared.state.tables import COUNTERS``)."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == name for a in node.names):
            return getattr(importlib.import_module(node.module), name)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"cannot find {name}")


def spread_fields(node: ast.expr, scope: ast.AST, tree: ast.Module, where: str) -> set[str]:
    """The keys a ``**node`` in a log_event call sends, read from the code that builds it: a dict
    literal, a conditional of dicts, a comprehension over a module constant, a local variable
    holding one of those, or a BatchCounts' ``as_dict()``."""
    if isinstance(node, ast.Dict):
        assert all(isinstance(k, ast.Constant) for k in node.keys), f"{where}: a key that is not a literal"
        return {k.value for k in node.keys}  # type: ignore[union-attr]
    if isinstance(node, ast.IfExp):
        return spread_fields(node.body, scope, tree, where) | spread_fields(node.orelse, scope, tree, where)
    if isinstance(node, ast.DictComp) and isinstance(node.generators[0].iter, ast.Name):
        return set(_module_constant(tree, node.generators[0].iter.id))  # type: ignore[arg-type]
    if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("counts.as_dict"):
        return _batch_counts()
    if isinstance(node, ast.Name):
        assigned = [n.value for n in ast.walk(scope) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
        assert assigned, f"{where}: **{node.id} is not assigned in its function"
        return set().union(*(spread_fields(v, scope, tree, where) for v in assigned))
    return {OPEN}  # built at run time (a snapshot's keys): no saved query may rely on this event


def emitted_events(files: list[Path] = CODE) -> dict[str, set[str]]:
    """event name -> every field some log_event call sends with it (``event`` included)."""
    events: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text())
        scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "log_event"):
                continue
            where = f"{path.name}:{node.lineno}"
            if len(node.args) < 3 or not isinstance(node.args[2], ast.Constant):
                raise AssertionError(f"{where}: log_event without a literal event name")
            fields = events.setdefault(node.args[2].value, {"event"})
            scope = min((s for s in scopes if s.lineno <= node.lineno <= (s.end_lineno or s.lineno)),
                        key=lambda s: (s.end_lineno or s.lineno) - s.lineno, default=tree)
            for kw in node.keywords:
                fields |= {kw.arg} if kw.arg is not None else spread_fields(kw.value, scope, tree, where)
    return events


def dimensions(kql: str) -> set[str]:
    """customDimensions fields a query reads (``customDimensions.x`` or ``customDimensions["x"]``)."""
    return set(re.findall(r"customDimensions\.([A-Za-z_]\w*)", kql)) | set(
        re.findall(r"customDimensions\[\s*[\"']([^\"']+)[\"']\s*\]", kql))


def selected_events(kql: str) -> set[str]:
    """Event names a query filters on: ``event in (...)``, ``event == "..."`` and the same on
    ``tostring(customDimensions.event)``."""
    names: set[str] = set()
    subject = r"(?:\bevent|tostring\(customDimensions\.event\))"
    for group in re.findall(subject + r"\s+in\s*\(([^)]*)\)", kql):
        names |= set(re.findall(r'"([a-z_]+)"', group))
    names |= set(re.findall(subject + r'\s*==\s*"([a-z_]+)"', kql))
    return names


def problems(kql: str, events: dict[str, set[str]]) -> list[str]:
    found = []
    chosen = selected_events(kql)
    for name in sorted(chosen - set(events)):
        found.append(f"event {name!r} is logged nowhere")
    for name in sorted(e for e in chosen if OPEN in events.get(e, ())):
        found.append(f"event {name!r} has fields built at run time: log them by name to query them")
    sent = set().union(*(events[e] for e in chosen if e in events)) if chosen else set().union(*events.values())
    for field in sorted(dimensions(kql) - sent):
        found.append(f"customDimensions.{field} is not a field of {sorted(chosen) or 'any event'}")
    # our events' fields come from customDimensions only: no parsing of the message text
    if re.search(r"\bparse(-kv)?\b[^\n|]*\bmessage\b", kql):
        found.append("parses the message text")
    if re.search(r"extract\([^\n]*\bmessage\b", kql) or re.search(r'message\s+startswith\s+"[a-z_]+ ', kql):
        found.append("reads an event out of the message text")
    return found


def test_the_code_scan_finds_the_events() -> None:
    events = emitted_events()
    assert {"batch_done", "run_done", "run_enqueued", "record_rejected", "batch_failed", "message_parked",
            "rate_limited"} <= set(events)
    assert {"run_id", "object", "batch_id", "api_calls", "created"} <= events["batch_done"]
    assert {"rows_read", "batches"} <= events["run_enqueued"]
    assert {"run_id", "status", "rows_read", "created", "failed"} <= events["run_done"]  # **counts: COUNTERS


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_query_reads_fields_the_events_send(path: Path) -> None:
    kql = path.read_text()
    assert problems(kql, emitted_events()) == []
    if path.name != "poison.kql":  # poison.kql also reads the host's own poison message
        assert dimensions(kql) and selected_events(kql), "reads no event field"


def test_the_field_check_fails_on_a_renamed_field_an_unknown_event_and_message_parsing() -> None:
    events = emitted_events()
    kql = (INFRA_DIR / "queries" / "sync_runs.kql").read_text()
    assert problems(kql.replace("customDimensions.api_calls", "customDimensions.calls"), events)
    assert problems(kql.replace('"run_enqueued"', '"run_queued"'), events)
    assert problems(kql + "\n| parse-kv message as (run_id: string)", events)
    # a field the code stops sending fails too: drop api_calls from every event
    thinner = {name: fields - {"api_calls"} for name, fields in events.items()}
    assert "customDimensions.api_calls" in " ".join(problems(kql, thinner))


def test_host_exports_opentelemetry_and_names_the_queue_trigger_category() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text())
    assert host.get("telemetryMode") == "OpenTelemetry"
    categories = set(host["logging"]["logLevel"])
    # the queue listener logs as Host.Triggers.Queue (WebJobs LogCategories.CreateTriggerCategory("Queue"))
    assert "Host.Triggers.Queue" in categories and "Host.Triggers.Queues" not in categories
    for path in [REPO_ROOT / "host.json", *(REPO_ROOT / "docs").rglob("*.md"), *(REPO_ROOT / "tests").rglob("*.py")]:
        if path != Path(__file__):
            assert "Host.Triggers.Queues" not in path.read_text(), path


def test_the_worker_leaves_its_logs_to_the_apps_export() -> None:
    settings = site_app_settings(parse_bicep(INFRA_DIR / "app" / "function.bicep"))
    assert str(settings.get("PYTHON_ENABLE_OPENTELEMETRY")).strip("'") == "true"
    # the worker would otherwise configure a second exporter of its own
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in settings
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings and "AZURE_CLIENT_ID" in settings
    app = (REPO_ROOT / "function_app.py").read_text()
    assert "telemetry.configure()" in app

"""Offline checks of the deployment files: Bicep, host.json, settings files and workflows.

Helpers shared by the test modules live here. Bicep is read with pycep-parser, which turns a
file into plain dicts; it does not tell a literal string from a symbol (``value: 'x'`` and
``value: x`` both come out as ``"x"``), so :func:`resolve` looks names up in the parameters
and variables it is given and leaves everything else as written.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
VENV_BIN = Path(sys.executable).parent

if str(REPO_ROOT) not in sys.path:  # `shared` is imported by the consistency tests
    sys.path.insert(0, str(REPO_ROOT))


def tool(name: str) -> str:
    """Path of a command installed in the running virtualenv (checkov, zizmor, ...)."""
    path = VENV_BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in {VENV_BIN}; run scripts/setup")
    return str(path)


# --- Bicep -----------------------------------------------------------------------------------


def bicep_files() -> list[Path]:
    return sorted(INFRA_DIR.rglob("*.bicep"))


def parse_bicep_text(text: str) -> dict[str, Any]:
    """Parse Bicep source; raises on a syntax error."""
    from pycep import BicepParser

    return BicepParser().parse(text=text)


@functools.cache
def parse_bicep(path: Path) -> dict[str, Any]:
    """Parse a Bicep file (cached); raises on a syntax error."""
    return parse_bicep_text(path.read_text(encoding="utf-8"))


def unwrap(config: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a resource or module, past pycep's wrappers for `if (...)` and `[for ...]`."""
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return dict(config)


def resources(doc: Mapping[str, Any], type_: str | None = None) -> Iterator[tuple[str, str, dict]]:
    """(symbol, type, body) of every resource declared in a parsed file, optionally of one type."""
    for symbol, res in (doc.get("resources") or {}).items():
        if type_ is None or res["type"].lower() == type_.lower():
            yield symbol, res["type"], unwrap(res["config"])


def modules(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, dict]]:
    """(symbol, local path, body) of every module call in a parsed file."""
    for symbol, mod in (doc.get("modules") or {}).items():
        yield symbol, mod["detail"]["path"], unwrap(mod["config"])


def param_defaults(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {name: p.get("default") for name, p in (doc.get("parameters") or {}).items()}


def secure_params(doc: Mapping[str, Any]) -> set[str]:
    return {
        name
        for name, p in (doc.get("parameters") or {}).items()
        if any(d.get("type") == "secure" for d in p.get("decorators") or [])
    }


def variables(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {name: v["value"] for name, v in (doc.get("variables") or {}).items()}


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve(value: Any, env: Mapping[str, Any]) -> Any:
    """Replace a bare name, or ``${name}`` inside a string, by its value in ``env``."""
    if not isinstance(value, str):
        return value
    if value in env:
        return env[value]

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(env[name]) if name in env and env[name] is not None else match.group(0)

    return _INTERPOLATION.sub(sub, value)


def leaf_strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed expression (function arguments, operands, literals)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from leaf_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaf_strings(item)


def module_env(caller: Mapping[str, Any], caller_env: Mapping[str, Any], module_symbol: str,
               module_doc: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values a module sees: its defaults, overridden by what the caller passes."""
    env = param_defaults(module_doc)
    body = unwrap(caller["modules"][module_symbol]["config"])
    for name, value in (body.get("params") or {}).items():
        env[name] = resolve(value, caller_env)
    env.update({k: resolve(v, env) for k, v in variables(module_doc).items() if isinstance(v, str)})
    return env


def site_app_settings(doc: Mapping[str, Any]) -> dict[str, Any]:
    """name -> value expression of the app settings of every Microsoft.Web/sites in a file."""
    settings: dict[str, Any] = {}
    for _, _, body in resources(doc, "Microsoft.Web/sites"):
        site_config = (body.get("properties") or {}).get("siteConfig") or {}
        for entry in site_config.get("appSettings") or []:
            settings[entry.get("name")] = entry.get("value")
    return settings


# --- checkov ---------------------------------------------------------------------------------


def run_checkov(directory: Path, *extra: str) -> dict[str, Any]:
    """Run checkov's Bicep framework over ``directory``; returns {"summary", "failed_checks"}.

    checkov exits 0 when it cannot parse a file, so callers must read summary["parsing_errors"].
    """
    cmd = [
        tool("checkov"), "--directory", str(directory), "--framework", "bicep",
        "--skip-download", "--output", "json", *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"checkov printed no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}") from exc
    reports = report if isinstance(report, list) else [report]
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    failed: list[dict[str, Any]] = []
    for item in reports:
        for key in summary:
            summary[key] += int(item.get("summary", {}).get(key, 0))
        failed.extend(item.get("results", {}).get("failed_checks", []))
    return {"summary": summary, "failed_checks": failed, "returncode": proc.returncode}

"""The tree is the architecture: these checks keep it so.

- no module imports another module's private name;
- each stage depends only on the stages below it (docs/architecture.md draws the same picture);
- one place decides retry-or-not (shared/errors.py ``judge``): nobody else inspects an error's
  retryability;
- the Azure Functions adapters stay thin and read no environment themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").glob("*.py"), ROOT / "function_app.py"])


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every ``from X import names`` and ``import X`` in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def test_the_walker_sees_the_code() -> None:
    names = {module_name(p) for p in SOURCES}
    assert {"shared.errors", "shared.source.sql_reader", "shared.hubspot.hubspot_writer", "shared.queue.drain",
            "shared.sync.batch_processor", "shared.state.records", "shared.mapping.field_mapper"} <= names


def test_no_module_imports_another_modules_private_name() -> None:
    offenders = [
        f"{module_name(path)} imports {name} from {module}"
        for path in SOURCES for module, names in imports(path)
        if module.startswith(("shared", "functions")) for name in names if name.startswith("_") and not name.endswith("__")
    ]
    assert offenders == []


# stage -> stages (and top-level modules) it may import; anything under shared not listed is refused
ALLOWED = {
    "shared.errors": set(),
    "shared.redaction": set(),
    "shared.keys": {"shared.errors"},
    "shared.schedule": {"shared.errors"},
    "shared.mapping": {"shared.errors", "shared.config", "shared.mapping"},
    "shared.config": {"shared.errors", "shared.mapping"},
    "shared.source": {"shared.errors", "shared.config", "shared.keys", "shared.redaction", "shared.source"},
    "shared.hubspot": {"shared.errors", "shared.mapping", "shared.hubspot"},
    "shared.state": {"shared.errors", "shared.keys", "shared.redaction", "shared.source.engine", "shared.state"},
}


def stage_of(module: str) -> str | None:
    return next((s for s in sorted(ALLOWED, key=len, reverse=True) if module == s or module.startswith(s + ".")), None)


def test_lower_stages_do_not_reach_up() -> None:
    offenders = []
    for path in SOURCES:
        stage = stage_of(module_name(path))
        if stage is None:
            continue
        for module, _names in imports(path):
            allowed = any(module == a or module.startswith(a + ".") for a in ALLOWED[stage])
            if module.startswith("shared.") and not allowed:
                offenders.append(f"{module_name(path)} ({stage}) imports {module}")
    assert offenders == []


def test_only_errors_py_decides_whether_an_error_is_worth_retrying() -> None:
    # reading an error's retryability anywhere else means a second place decides retry-or-not
    suspicious = ("quota_exhausted", "transient", "retry_after")
    offenders = []
    for path in SOURCES:
        name = module_name(path)
        if name in ("shared.errors", "shared.hubspot.error_handler"):  # the taxonomy and the HubSpot edge
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                if "RetryableError" in caught or "OperationalError" in caught:
                    offenders.append(f"{name}:{node.lineno} except {caught}")
            is_check = isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance" and len(node.args) == 2
            if is_check and "RetryableError" in ast.unparse(node.args[1]):
                offenders.append(f"{name}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.Attribute) and node.attr in suspicious:
                owner = ast.unparse(node.value)
                if owner not in ("verdict", "self"):  # a Verdict is judge's answer
                    offenders.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []


def test_functions_are_thin_adapters() -> None:
    for path in sorted((ROOT / "functions").glob("*.py")):
        text = path.read_text()
        assert len(text.splitlines()) <= 40, f"{path.name} holds logic: move it into shared/"
        assert "os.environ" not in text or path.name == "health.py", f"{path.name} reads the environment itself"

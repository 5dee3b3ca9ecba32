"""requirements.txt is the deployed app's lock: compiled from pyproject.toml by `bash scripts/lock`
(dependencies + the functions and mssql extras, Linux x86_64, Python 3.11), every package pinned
with its hashes, so the deployment's `pip install -r requirements.txt` runs in hash-checking mode.

The offline checks read the two files; the last two recompile against PyPI (scripts/lock --check),
which is the only way to tell a lock that still satisfies pyproject.toml from one that is stale."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from . import REPO_ROOT, tool

pytestmark = pytest.mark.infra

LOCK = REPO_ROOT / "requirements.txt"
PYPROJECT = REPO_ROOT / "pyproject.toml"
APP_EXTRAS = ("functions", "mssql")  # what the Function App adds to the package's dependencies
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<rest>(?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)",
                   re.M)


def locked(text: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every entry; fails on any line that is not part of one."""
    entries = {canonicalize_name(m["name"]): (m["version"], m["rest"].count("--hash=")) for m in ENTRY.finditer(text)}
    rest = ENTRY.sub("", text)
    stray = [line for line in rest.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert not stray, f"lines that are not a pinned, hashed requirement: {stray[:5]}"
    return entries


def app_requirement_strings() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in APP_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return reqs


def app_requirements() -> list[Requirement]:
    return [Requirement(r) for r in app_requirement_strings()]


def check_lock(text: str) -> list[str]:
    """What is wrong with a lock for pyproject.toml's app requirements (empty: nothing)."""
    entries = locked(text)
    problems = []
    for req in app_requirements():
        if req.marker and not req.marker.evaluate({"python_version": "3.11", "sys_platform": "linux"}):
            continue
        name = canonicalize_name(req.name)
        if name not in entries:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(entries[name][0], prereleases=True):
            problems.append(f"{req.name}=={entries[name][0]} does not satisfy {req}")
    problems += [f"{name} has no hash" for name, (_, hashes) in entries.items() if hashes == 0]
    if "bash scripts/lock" not in text.split("\n", 3)[1]:
        problems.append("the header does not name the command that made it (bash scripts/lock)")
    return problems


def test_every_app_dependency_is_pinned_with_hashes_and_satisfies_pyproject() -> None:
    text = LOCK.read_text()
    assert check_lock(text) == []
    entries = locked(text)
    # the app's own packages, and the telemetry distro the Function App configures
    assert {"azure-functions", "pyodbc", "azure-monitor-opentelemetry", "sqlalchemy"} <= set(entries)
    assert all(hashes >= 1 for _, hashes in entries.values())


def test_lock_check_refuses_a_missing_unhashed_or_out_of_range_pin() -> None:
    text = LOCK.read_text()
    name, version = "tenacity", locked(text)["tenacity"][0]
    entry = re.search(rf"^{name}=={re.escape(version)}(?: \\\n\s+--hash=sha256:[0-9a-f]{{64}})+\n", text, re.M)
    assert entry
    assert any("tenacity is not in the lock" in p for p in check_lock(text.replace(entry.group(0), "")))
    assert any("does not satisfy" in p for p in check_lock(text.replace(f"{name}=={version}", f"{name}==1.0.0")))
    with pytest.raises(AssertionError, match="not a pinned, hashed requirement"):
        check_lock(text + "requests>=2\n")


def test_deploy_installs_this_lock_and_the_package_keeps_it() -> None:
    deploy = (REPO_ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    # pip turns on hash-checking mode by itself when the file carries hashes
    assert re.search(r"pip install [^\n]*--target \.python_packages/lib/site-packages [^\n]*-r requirements\.txt", deploy)
    funcignore = (REPO_ROOT / ".funcignore").read_text().splitlines()
    assert "requirements.txt" not in funcignore  # a remote build reads the same file


def _lock_check(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV": tool("uv")}
    return subprocess.run(["bash", "scripts/lock", "--check"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_lock_is_what_pyproject_compiles_to() -> None:
    proc = _lock_check(REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_lock_check_fails_when_pyproject_moves_away_from_it(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "lock", tmp_path / "scripts" / "lock")
    # exclude the version the lock holds for one ranged dependency: the lock is then stale
    entries = locked(LOCK.read_text())
    raw = next(r for r in app_requirement_strings() if not any(s.operator == "==" for s in Requirement(r).specifier))
    version = entries[canonicalize_name(Requirement(raw).name)][0]
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert text.count(f'"{raw}"') == 1, raw
    pyproject.write_text(text.replace(f'"{raw}"', f'"{raw},!={version}"'))
    proc = _lock_check(tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stale" in proc.stderr

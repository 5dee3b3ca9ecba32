"""`hubsync validate --offline`: the deploy scripts' first check, of the settings and the
configuration file only (no database, no HubSpot, no token)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _cli_logging_is_restored():
    """The CLI sets the 'hubsync' logger's level and handler for its process: undo it for the tests after."""
    logger = logging.getLogger("hubsync")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def validate(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", "--offline", *args], env={"HUBSYNC_CONFIG": "", **env})
    return result.exit_code, result.output


def test_a_good_file_passes_without_any_service() -> None:
    code, output = validate("--config", str(ROOT / "examples" / "sqlserver.yaml"),
                            HUBSYNC_SOURCE_URL="mssql+pyodbc://@unreachable.invalid/db")
    assert code == 0, output
    assert "ok " in output and "1 object(s) (contacts)" in output


def test_the_file_hubsync_config_names_is_checked(tmp_path: Path) -> None:
    (tmp_path / "hubsync.yaml").write_text((ROOT / "examples" / "demo.yaml").read_text())
    code, output = validate(HUBSYNC_CONFIG=str(tmp_path / "hubsync.yaml"))
    assert code == 0, output


@pytest.mark.parametrize(("text", "says"), [
    (None, "does not exist"),
    ("objects: [\n  - {name: x\n", "not valid YAML at line"),
    ("version: 1\nobjects: [{name: contacts}]\n", "objects[0]"),
])
def test_a_bad_file_exits_2_naming_the_problem(tmp_path: Path, text: str | None, says: str) -> None:
    path = tmp_path / "hubsync.yaml"
    if text is not None:
        path.write_text(text)
    code, output = validate("--config", str(path))
    assert code == 2 and says in output, output


def test_a_bad_setting_exits_2_naming_it() -> None:
    code, output = validate("--config", str(ROOT / "examples" / "sqlserver.yaml"), HUBSYNC_QUEUE_NAME="Bad_Name")
    assert code == 2 and "HUBSYNC_QUEUE_NAME" in output

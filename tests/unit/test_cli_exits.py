"""shared/cli/app.py: one mapping from an error to what the operator reads and the exit code."""

from __future__ import annotations

import pytest
import typer

from shared.cli.app import exits
from shared.errors import ConfigurationError, MalformedMessage, RetryableError, SourceUnavailable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("err", "code", "says"), [
    (ConfigurationError("objects[0].table: no such table"), 2, "error: objects[0].table: no such table"),
    (MalformedMessage("bad body"), 2, "error: bad body"),
    (RetryableError("HubSpot unavailable (503)"), 3, "error: HubSpot unavailable (503)"),
    (SourceUnavailable("the database is unavailable"), 3, "error: the database is unavailable"),
    (ConnectionRefusedError("refused password=hunter2"), 3, "a service became unavailable: ConnectionRefusedError"),
    (KeyError("object"), 4, "internal error: KeyError"),
])
def test_each_error_exits_with_its_code_and_says_what_happened(err, code, says, capsys) -> None:
    with pytest.raises(typer.Exit) as info, exits():
        raise err
    assert info.value.exit_code == code
    stderr = capsys.readouterr().err
    assert says in stderr
    assert "hunter2" not in stderr


def test_an_internal_error_is_not_exit_1_which_means_rows_were_rejected(capsys) -> None:
    with pytest.raises(typer.Exit) as info, exits():
        raise AttributeError("'NoneType' object has no attribute 'run_id'")
    assert info.value.exit_code == 4
    assert "run with -v for the traceback" in capsys.readouterr().err


def test_an_exit_a_command_chose_passes_through() -> None:
    with pytest.raises(typer.Exit) as info, exits():
        raise typer.Exit(1)
    assert info.value.exit_code == 1

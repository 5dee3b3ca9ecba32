"""Issue 8.12: missing state tables gave exit 3 "service unavailable" in `poison list`, `poison
replay` and `inspect`; HUBSPOT_BASE_URL=not-a-url gave exit 3 and a library warning; `inspect`
of a key that does not exist exited 0."""

from __future__ import annotations

import pytest

from tests.support import hubsync


@pytest.mark.parametrize("command", [["poison", "list"], ["poison", "replay", "--all"], ["inspect", "5"]])
def test_missing_state_tables_exit_2_naming_init_db(project, emulator, command):
    result = hubsync(*command, env=project["env"], cwd=project["cwd"])
    assert result.returncode == 2, result.stderr
    assert "hubsync init-db" in result.stderr


def test_a_base_url_that_is_not_a_url_exits_2_naming_the_setting(project):
    env = {**project["env"], "HUBSPOT_BASE_URL": "not-a-url"}
    result = hubsync("validate", env=env, cwd=project["cwd"])
    assert result.returncode == 2
    assert "HUBSPOT_BASE_URL: 'not-a-url' is not an http(s) URL" in result.stderr


def test_inspect_of_a_key_nobody_has_exits_2(project, emulator):
    hubsync("init-db", env=project["env"], cwd=project["cwd"])
    result = hubsync("inspect", "99999", env=project["env"], cwd=project["cwd"])
    assert result.returncode == 2 and "no row with key customer_id=99999" in result.stderr

"""Importing hubsync and using a non-SQL Server source must not need unixODBC or pyodbc."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SCRIPT = """
import sys
sys.modules["pyodbc"] = None  # any 'import pyodbc' now raises ImportError, as without libodbc.so.2
import shared.cli, shared.runtime, shared.sync.run, shared.source.sql_reader, shared.state, function_app  # noqa
from shared.source.engine import check_connection, create_source_engine
check_connection(create_source_engine("sqlite://"))
from shared.errors import SourceError
try:
    create_source_engine("mssql+pyodbc://@server/db")
except SourceError as err:
    print("MSSQL:", err)
"""


def test_package_imports_and_runs_sqlite_without_pyodbc():
    env = {"PYTHONPATH": str(ROOT), "HUBSYNC_CONFIG": "x", "HUBSPOT_ACCESS_TOKEN": "t",
           "HUBSYNC_SCHEDULE": "0 */5 * * * *", "HUBSYNC_QUEUE_NAME": "hubsync-batches",
           "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "MSSQL: the driver for mssql+pyodbc cannot be loaded" in result.stdout
    assert "pyodbc unavailable" in result.stdout  # and it says why, for the operator

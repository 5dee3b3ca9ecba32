"""HUBSYNC_SOURCE_URL is the one place a database password may live. ``describe_url`` hides
only the URL's password component, so a password carried in the query string (an ODBC
connection string in ``odbc_connect``, the usual form for Azure SQL, or libpq's ``password``)
is printed in SourceError messages, hence on the CLI's stderr, in logs and in the runs table."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml

from shared.source.engine import check_connection, create_source_engine
from tests.conftest import TOKEN
from tests.support import config_dict, create_customers, hubsync

SECRET = "S3cretPw9x"
URLS = {
    "odbc_connect": ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3B"
                     f"SERVER%3Dtcp%3A127.0.0.1%2C1%3BDATABASE%3Dcrm%3BUID%3Dsync%3BPWD%3D{SECRET}"),
    "libpq_password": f"postgresql+psycopg://hubsync@127.0.0.1:1/hubsync_test?password={SECRET}",
}


@pytest.mark.parametrize("kind", sorted(URLS))
def test_source_error_does_not_reveal_a_query_string_password(kind):
    engine = create_source_engine(URLS[kind])
    with pytest.raises(Exception) as info:
        check_connection(engine)
    assert SECRET not in str(info.value), str(info.value)
    assert SECRET not in repr(engine), repr(engine)


def test_cli_does_not_print_the_source_password(tmp_path, emulator):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    create_customers(engine, 3)
    path = tmp_path / "hubsync.yaml"
    path.write_text(yaml.safe_dump(config_dict()))
    env = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": emulator.base_url, "HUBSYNC_CONFIG": str(path),
           "HUBSYNC_SOURCE_URL": URLS["odbc_connect"]}

    result = hubsync("validate", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr, result.stderr

"""``_secrets_out_of_url`` moves ``PWD=`` out of an ``odbc_connect`` string by splitting it on
every ';'. ODBC requires a password containing ';' (or other specials) to be braced:
``PWD={Se;cr3tPw}``. The split keeps ``cr3tPw}`` in the engine's URL (printed by
``repr(engine)``, which hides only the URL's password component) and hands the driver
``PWD={Se`` plus a stray ``cr3tPw}`` attribute: most of the secret leaks and the sign-in fails."""

from __future__ import annotations

import urllib.parse

from shared.source.engine import create_source_engine

PASSWORD = "{Se;cr3tPw}"


def test_a_braced_odbc_password_is_moved_out_whole():
    odbc = f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=tcp:127.0.0.1,1;DATABASE=crm;UID=sync;PWD={PASSWORD}"
    engine = create_source_engine("mssql+pyodbc:///?odbc_connect=" + urllib.parse.quote_plus(odbc))
    kept = engine.url.query["odbc_connect"]
    assert "cr3tPw" not in repr(engine) and "cr3tPw" not in kept, f"left in the engine URL: {kept!r}"

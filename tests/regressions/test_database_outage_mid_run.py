"""README: exit 3 when "HubSpot, the database or the queue was unavailable", and an outage stops
the run early "instead of burning every batch into the poison store". The state store never
classifies its SQLAlchemy errors: when the database goes away after the plan, every batch fails
with a raw ``OperationalError`` (raised from the handler's own bookkeeping), which is not a
``RetryableError`` so the drain's breaker never trips; each batch is retried and sent to the poison
queue, parking it fails on the same database, and a raw ``OperationalError`` escapes ``drain`` and
``run_sync``. ``hubsync run`` reports it as "internal error" with exit 1 (some rows rejected)."""

from __future__ import annotations

import sqlalchemy as sa

from shared.errors import RetryableError
from shared.source.engine import create_source_engine
from shared.sync.run import run_sync
from tests.regressions.helpers import make_runtime
from tests.regressions.netproxy import TcpProxy
from tests.support import config_dict, create_customers


def test_database_outage_after_the_plan_is_reported_as_unavailable(pg_engine, pg_schema, emulator):
    create_customers(pg_engine, 30, schema=pg_schema)
    url = pg_engine.url.set(host="127.0.0.1")
    proxy = TcpProxy(url.host, url.port or 5432)
    engine = create_source_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    config = config_dict(table=f"{pg_schema}.customers", state_schema=f"{pg_schema}_state")
    rt = make_runtime(engine, emulator, config=config)
    try:
        try:
            result = run_sync(rt, workers=2, base_backoff=0.01, on_planned=lambda _plan: proxy.cut())
            outcome: BaseException | None = result.drain.fatal
            detail = f"drain returned: fatal={outcome!r}, poisoned={result.drain.poisoned}"
        except Exception as err:  # noqa: BLE001 - what reaches the CLI's main()
            outcome = err
            detail = f"run_sync raised {type(err).__module__}.{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    finally:
        proxy.cut()
        engine.dispose()
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{pg_schema}_state" CASCADE'))

    # shared.cli.main maps RetryableError to exit 3; anything else that is not a HubsyncError to exit 1
    assert isinstance(outcome, RetryableError), detail

"""``hubsync demo init|edit``: the embedded demo database (configurations with ``demo: true`` only)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.app import ConfigOpt, demo_app, exits, open_runtime, out
from shared.errors import ConfigurationError
from shared.settings import Settings


def _demo_url(config: str | None) -> str:
    settings = Settings.from_env()
    cfg = settings.load_config(config)
    if not cfg.demo:
        raise ConfigurationError(
            "demo commands change or replace the source database: they run only on a configuration with "
            "'demo: true' (like examples/demo.yaml)")
    return settings.source_url_for(cfg)


@demo_app.command("init")
def demo_init(config: ConfigOpt = None,
              rows: Annotated[int, typer.Option(min=1, max=1_000_000, help="Customers to generate.")] = 1000,
              force: Annotated[bool, typer.Option("--force", help="Recreate it.")] = False) -> None:
    """Create the demo SQLite database and hubsync's state tables."""
    from shared.demo import create_demo_database

    with exits():
        url = _demo_url(config)
        try:
            create_demo_database(url, rows=rows, force=force)
        except ValueError as err:
            raise ConfigurationError(str(err)) from None
    with open_runtime(config, hubspot=False, queues=False) as rt:
        rt.state.init_db()
    out.print(f"demo database ready: {url}", highlight=False)


@demo_app.command("edit")
def demo_edit(config: ConfigOpt = None,
              percent: Annotated[float, typer.Option(min=0.01, max=100.0,
                                                     help="Percentage of the customers to change (1 = 1%).")] = 1.0
              ) -> None:
    """Change some demo rows, as the business would between two runs."""
    from shared.demo import edit_rows

    with exits():
        _demo_url(config)
    with open_runtime(config, hubspot=False, queues=False) as rt:
        changed = edit_rows(rt.engine, percent)
    noun = "customer" if len(changed) == 1 else "customers"
    out.print(f"changed {len(changed)} {noun}: {', '.join(map(str, changed[:20]))}"
              f"{' ...' if len(changed) > 20 else ''}", highlight=False)

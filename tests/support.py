"""Helpers shared by integration and end-to-end tests: a customers table in a real database,
a configuration for it, and the convergence check."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shared.config import SyncConfig, parse_config
from shared.errors import RecordRejected
from shared.keys import encode_version, key_to_json
from shared.mapping.data_validator import PortalSchema
from shared.mapping.field_mapper import map_row
from shared.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent

BAD_EMAIL = 37   # i % 100 == 37 -> malformed email (rejected by the mapper)
BAD_STATUS = 73  # i % 100 == 73 -> status with no map entry (rejected by the mapper)
BAD_TIER = 91    # i % 100 == 91 -> tier HubSpot has no option for (rejected by the validator)


def customers_table(schema: str | None = None) -> sa.Table:
    md = sa.MetaData(schema=schema)
    return sa.Table(
        "customers", md,
        sa.Column("customer_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(320)),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("phone", sa.String(40)),
        sa.Column("status", sa.String(4)),
        sa.Column("tier", sa.String(20)),
        sa.Column("vip", sa.Integer, nullable=False),
        sa.Column("signup_date", sa.Date),
        sa.Column("annual_revenue", sa.Numeric(14, 2)),
        sa.Column("row_version", sa.BigInteger, nullable=False, index=True),
    )


def customer(i: int, rnd: random.Random) -> dict[str, Any]:
    email = f"user{i}@example.com"
    status, tier = rnd.choice(["A", "P"]), rnd.choice(["bronze", "silver", "gold"])
    if i % 100 == BAD_EMAIL:
        email = f"user{i}-at-example.com"
    if i % 100 == BAD_STATUS:
        status = "X"
    if i % 100 == BAD_TIER:
        tier = "platinum"
    return {
        "customer_id": i, "email": email, "first_name": f"First{i}", "last_name": f"Last{i}",
        "phone": f"+1 206 555 {i % 10000:04d}", "status": status, "tier": tier, "vip": i % 7 == 0,
        "signup_date": dt.date(2021, 1, 1) + dt.timedelta(days=i % 900),
        "annual_revenue": Decimal(i * 10) + Decimal("0.50"), "row_version": i,
    }


def create_customers(engine: sa.Engine, n: int, schema: str | None = None, seed: int = 1) -> sa.Table:
    table = customers_table(schema)
    table.metadata.create_all(engine)
    rnd = random.Random(seed)
    rows = [customer(i, rnd) for i in range(1, n + 1)]
    for row in rows:
        row["vip"] = int(row["vip"])
    with engine.begin() as conn:
        for start in range(0, len(rows), 500):
            conn.execute(table.insert(), rows[start:start + 500])
    return table


def update_customers(engine: sa.Engine, table: sa.Table, ids: list[int], **values: Any) -> None:
    """Change rows the way an application would: new values and a new, higher row version."""
    with engine.begin() as conn:
        top = conn.execute(sa.select(sa.func.max(table.c.row_version))).scalar_one() or 0
        for n, cid in enumerate(ids, start=1):
            row_values = {k: (v(cid) if callable(v) else v) for k, v in values.items()}
            conn.execute(table.update().where(table.c.customer_id == cid).values(row_version=top + n, **row_values))


def config_dict(table: str = "customers", backend: str = "memory", state_schema: str | None = "hubsync",
                id_property: str = "email", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "source": {"state_schema": state_schema, "page_size": 137},
        "hubspot": {"mode": "live", "requests_per_10s": 1000, "max_attempts": 3},
        "queue": {"backend": backend, "max_dequeue_count": 3, "visibility_timeout_seconds": 5},
        "objects": [{
            "name": "contacts",
            "object_type": "contacts",
            "table": table,
            "key": ["customer_id"],
            "watermark": {"column": "row_version", "kind": "integer"},
            "id_property": id_property,
            "fields": {
                "email": {"column": "email", "transform": ["trim", "email"], "required": True},
                "firstname": {"column": "first_name"},
                "lastname": {"column": "last_name"},
                "phone": {"column": "phone", "transform": {"phone": {"region": "US"}}},
                "lifecyclestage": {"column": "status", "transform": {"map": {"A": "customer", "P": "lead"}}},
                "customer_tier": {"column": "tier"},
                "is_vip": {"column": "vip", "transform": "bool"},
                "signup_date": {"column": "signup_date", "transform": "date"},
                "annualrevenue": {"column": "annual_revenue", "transform": "number"},
            },
        }],
    }
    for key, value in overrides.items():
        data[key] = value
    return data


def config_for(**kwargs: Any) -> SyncConfig:
    return parse_config(config_dict(**kwargs))


def assert_converged(rt: Runtime, emulator: Any, table: sa.Table, object_name: str = "contacts") -> dict[str, int]:
    """The test to trust most: after a sync quiesces, every non-rejected SQL row equals its
    HubSpot record, no record is duplicated, every rejected row has its reason recorded."""
    obj = rt.config.object(object_name)
    schema: PortalSchema = rt.writer.fetch_schema(obj.object_type)
    with rt.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    records = {r.source_key: r for r in rt.state.all_records(object_name)}
    hub = {r["id"]: r for r in emulator.records(obj.object_type)}

    emails = Counter((r["properties"].get("email") or "").lower() for r in hub.values())
    dupes = {e: n for e, n in emails.items() if n > 1}
    assert not dupes, f"duplicated HubSpot records: {dupes}"

    tally = Counter()
    claimed: set[str] = set()
    for row in rows:
        kj = key_to_json([row["customer_id"]])
        rec = records.get(kj)
        assert rec is not None, f"source row {kj} has no state record: it was lost"
        version = encode_version(obj.watermark.kind, row[obj.watermark.column])
        try:
            mapped = map_row(row, obj, version, schema.types())
            problems = schema.validate(mapped.properties)
        except RecordRejected as err:
            mapped, problems = None, [err.reason]
        if problems or rec.last_outcome == "rejected":
            # invalid rows, and valid rows HubSpot or the duplicate check refused, are explained
            assert rec.last_outcome == "rejected", f"{kj}: invalid row recorded as {rec.last_outcome}"
            assert rec.reason, f"{kj}: rejected without a reason"
            tally["rejected"] += 1
            continue
        assert rec.last_outcome in ("created", "updated", "adopted", "unchanged"), f"{kj}: {rec.last_outcome} {rec.reason}"
        assert rec.hubspot_id in hub, f"{kj}: HubSpot record {rec.hubspot_id} does not exist"
        assert rec.source_version == version, f"{kj}: state holds version {rec.source_version}, row has {version}"
        claimed.add(rec.hubspot_id)
        actual = hub[rec.hubspot_id]["properties"]
        for prop, value in mapped.properties.items():
            assert (actual.get(prop) or "") == value, (
                f"{kj}: HubSpot {prop}={actual.get(prop)!r} but SQL maps to {value!r}")
        tally["synced"] += 1
    extra = set(hub) - claimed
    assert not extra, f"HubSpot holds {len(extra)} records no source row claims: {sorted(extra)[:5]}"
    return dict(tally)


def emulator_writes(emulator: Any) -> list[tuple[str, str, int]]:
    return [c for c in emulator.calls if c[0] == "POST" and not c[1].endswith("/batch/read")]


def dump(obj: Any) -> str:
    return json.dumps(obj, default=str, indent=1)


# -- the CLI as a user runs it ---------------------------------------------------------------

HUBSYNC = [sys.executable, "-m", "shared.cli"]


def hubsync(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("HUBSYNC_", "HUBSPOT_", "AzureWebJobs")) or k.startswith("HUBSYNC_TEST_")}
    base["PYTHONPATH"] = str(ROOT)
    base["COLUMNS"] = "200"
    return subprocess.run([*HUBSYNC, *args], env={**base, **env}, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)

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
from shared.keys import encode_version, key_to_json
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


STATUSES = {"A": "customer", "P": "lead"}
TIERS = frozenset({"bronze", "silver", "gold"})


def expected_properties(row: dict[str, Any], fields: dict[str, Any], statuses: dict[str, str] = STATUSES,
                        tiers: frozenset[str] = TIERS) -> dict[str, str] | None:
    """What the tests' mapping (``config_dict``) sends for a customers row, written out by hand,
    independently of the production mapper; None when the row must be rejected."""
    email = (row.get("email") or "").strip()
    local, _, domain = email.partition("@")
    status = statuses.get(row.get("status") or "")
    if not local or "." not in domain or " " in email or status is None or row.get("tier") not in tiers:
        return None
    revenue = format(Decimal(row["annual_revenue"]), "f")
    revenue = revenue.rstrip("0").rstrip(".") if "." in revenue else revenue
    signup = row["signup_date"]
    expected = {
        "email": email.lower(),
        "firstname": row.get("first_name") or "",
        "lastname": row.get("last_name") or "",
        "phone": "+" + "".join(ch for ch in row["phone"] if ch.isdigit()),
        "lifecyclestage": status,
        "customer_tier": row["tier"],
        "is_vip": "true" if row["vip"] else "false",
        "signup_date": signup if isinstance(signup, str) else signup.isoformat(),
        "annualrevenue": revenue,
    }
    for prop, spec in fields.items():  # a field a test added (a custom unique id): its column as text
        if prop not in expected:
            expected[prop] = str(row[spec.column])
    return expected


def assert_converged(rt: Runtime, emulator: Any, table: sa.Table, object_name: str = "contacts",
                     refused: set[int] = frozenset(), statuses: dict[str, str] = STATUSES,  # type: ignore[assignment]
                     tiers: frozenset[str] = TIERS) -> dict[str, int]:
    """The test to trust most: after a sync quiesces, every valid SQL row equals its HubSpot record
    (expected values computed by hand, not by the production mapper), no record is duplicated,
    and every rejected row is explained: invalid, a duplicate of another row's unique value, or
    one the test expects HubSpot to refuse (``refused``, by customer id)."""
    obj = rt.config.object(object_name)
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
        expected = expected_properties(row, dict(obj.fields), statuses, tiers)
        if expected is None:
            assert rec.last_outcome == "rejected", f"{kj}: invalid row recorded as {rec.last_outcome}"
            assert rec.reason, f"{kj}: rejected without a reason"
            tally["rejected"] += 1
            continue
        if rec.last_outcome == "rejected":
            duplicate = "each HubSpot record can have only one source row" in (rec.reason or "")
            assert duplicate or row["customer_id"] in refused, f"{kj}: a valid row was rejected: {rec.reason}"
            tally["rejected"] += 1
            continue
        assert rec.last_outcome in ("created", "updated", "adopted", "unchanged"), f"{kj}: {rec.last_outcome} {rec.reason}"
        assert rec.hubspot_id in hub, f"{kj}: HubSpot record {rec.hubspot_id} does not exist"
        assert rec.source_version == version, f"{kj}: state holds version {rec.source_version}, row has {version}"
        assert rec.hubspot_id not in claimed, f"{kj}: HubSpot record {rec.hubspot_id} is held by two rows"
        claimed.add(rec.hubspot_id)
        actual = hub[rec.hubspot_id]["properties"]
        for prop, value in expected.items():
            assert (actual.get(prop) or "") == value, (
                f"{kj}: HubSpot {prop}={actual.get(prop)!r} but the row holds {value!r}")
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

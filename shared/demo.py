"""The embedded demo: a generated SQLite customer database that behaves like the real one:
customers, the companies they work for and the companies' deals, linked by foreign keys.

``customers.row_version`` plays SQL Server's rowversion: triggers give every insert and
update a new, database-wide increasing number. About 1% of the rows are deliberately wrong
(a malformed email, an unmapped status, a tier HubSpot has no option for) so a run shows
rejected rows with their reasons.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger",
         "Radia", "Tim", "Katherine", "Guido", "Hedy", "John", "Sophie", "Niklaus", "Anita", "Bjarne"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
        "Dijkstra", "Perlman", "Berners-Lee", "Johnson", "van Rossum", "Lamarr", "Backus", "Wilson", "Wirth"]
COMPANIES = ["Contoso", "Fabrikam", "Northwind Traders", "Adventure Works", "Tailspin Toys", "Litware",
             "Proseware", "Wingtip Toys", "Woodgrove Bank", "Alpine Ski House"]
CITIES = [("Seattle", "US"), ("Boston", "US"), ("Austin", "US"), ("Chicago", "US"), ("Denver", "US")]
STATUSES = ["A", "P", "O"]
TIERS = ["Bronze", "Silver", "Gold"]

SCHEMA = [
    """CREATE TABLE customers (
        customer_id INTEGER PRIMARY KEY,
        email TEXT,
        first_name TEXT,
        last_name TEXT,
        phone TEXT,
        company TEXT,
        city TEXT,
        country TEXT,
        status TEXT,
        tier TEXT,
        vip INTEGER NOT NULL DEFAULT 0,
        signup_date DATE,
        last_order_at DATETIME,
        annual_revenue NUMERIC,
        company_id INTEGER REFERENCES companies (company_id),
        row_version INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX ix_customers_row_version ON customers (row_version, customer_id)",
    """CREATE TABLE companies (
        company_id INTEGER PRIMARY KEY,
        name TEXT,
        domain TEXT,
        city TEXT,
        row_version INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE deals (
        deal_id INTEGER PRIMARY KEY,
        name TEXT,
        amount NUMERIC,
        stage TEXT,
        company_id INTEGER REFERENCES companies (company_id),
        row_version INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE TABLE demo_clock (value INTEGER NOT NULL)",
    "INSERT INTO demo_clock (value) VALUES (0)",
    """CREATE TRIGGER customers_version_insert AFTER INSERT ON customers BEGIN
        UPDATE demo_clock SET value = value + 1;
        UPDATE customers SET row_version = (SELECT value FROM demo_clock) WHERE customer_id = NEW.customer_id;
    END""",
    """CREATE TRIGGER customers_version_update AFTER UPDATE ON customers
        WHEN NEW.row_version = OLD.row_version BEGIN
        UPDATE demo_clock SET value = value + 1;
        UPDATE customers SET row_version = (SELECT value FROM demo_clock) WHERE customer_id = NEW.customer_id;
    END""",
    *(statement for table, key in (("companies", "company_id"), ("deals", "deal_id")) for statement in (
        f"CREATE INDEX ix_{table}_row_version ON {table} (row_version, {key})",
        f"""CREATE TRIGGER {table}_version_insert AFTER INSERT ON {table} BEGIN
        UPDATE demo_clock SET value = value + 1;
        UPDATE {table} SET row_version = (SELECT value FROM demo_clock) WHERE {key} = NEW.{key};
    END""",
        f"""CREATE TRIGGER {table}_version_update AFTER UPDATE ON {table}
        WHEN NEW.row_version = OLD.row_version BEGIN
        UPDATE demo_clock SET value = value + 1;
        UPDATE {table} SET row_version = (SELECT value FROM demo_clock) WHERE {key} = NEW.{key};
    END""")),
]
# as the CRM team writes them: HubSpot labels in any case, and two codes of their own (stage_map)
DEAL_STAGES = ["Appointment Scheduled", "qualified to buy", "Presentation Scheduled", "WON", "LOST"]


def _row(i: int, rnd: random.Random) -> dict[str, object]:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    city, country = rnd.choice(CITIES)
    email = f"{first}.{last}.{i}@example.com".lower().replace(" ", "")
    status, tier = rnd.choice(STATUSES), rnd.choice(TIERS)
    if i % 100 == 37:
        email = f"{first}.{last}.{i}-at-example.com"  # malformed: rejected with its reason
    elif i % 100 == 73:
        status = "X"  # no entry in the status value map
    elif i % 100 == 91:
        tier = "Platinum"  # not an option of customer_tier
    signup = dt.date(2020, 1, 1) + dt.timedelta(days=rnd.randrange(0, 2000))
    return {
        "customer_id": i,
        "email": f"  {email} " if i % 10 == 0 else email,
        "first_name": first,
        "last_name": last,
        "phone": f"+1 (206) 555-{rnd.randrange(0, 10000):04d}",
        "company": rnd.choice(COMPANIES),
        "city": city,
        "country": country,
        "status": status,
        "tier": tier,
        "vip": 1 if rnd.random() < 0.1 else 0,
        "signup_date": signup.isoformat(),
        "last_order_at": (dt.datetime(2025, 1, 1) + dt.timedelta(minutes=rnd.randrange(0, 500_000))).isoformat(sep=" "),
        "annual_revenue": round(rnd.uniform(1_000, 5_000_000), 2),
        # one customer in 50 has no company; one in 100 names a company the table does not have
        "company_id": None if i % 50 == 11 else 9999 if i % 100 == 59 else 1 + i % len(COMPANIES),
    }


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"the demo needs a sqlite:/// URL, not {url!r}")
    return Path(url.removeprefix("sqlite:///"))


def create_demo_database(url: str, rows: int = 1000, seed: int = 7, force: bool = False) -> Engine:
    """Create the demo database at ``url`` (a sqlite:/// URL) unless it exists."""
    path = sqlite_path(url)
    if path.exists() and not force:
        return create_engine(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    engine = create_engine(url)
    rnd = random.Random(seed)
    with engine.begin() as conn:
        for statement in SCHEMA:
            conn.execute(text(statement))
        conn.execute(
            text(
                "INSERT INTO customers (customer_id, email, first_name, last_name, phone, company, city, country, "
                "status, tier, vip, signup_date, last_order_at, annual_revenue, company_id) VALUES (:customer_id, :email, "
                ":first_name, :last_name, :phone, :company, :city, :country, :status, :tier, :vip, :signup_date, "
                ":last_order_at, :annual_revenue, :company_id)"
            ),
            [_row(i, rnd) for i in range(1, rows + 1)],
        )
        conn.execute(
            text("INSERT INTO companies (company_id, name, domain, city) VALUES (:id, :name, :domain, :city)"),
            [{"id": n, "name": name, "domain": name.lower().replace(" ", "") + ".example", "city": rnd.choice(CITIES)[0]}
             for n, name in enumerate(COMPANIES, start=1)],
        )
        conn.execute(
            text("INSERT INTO deals (deal_id, name, amount, stage, company_id) VALUES (:id, :name, :amount, :stage, "
                 ":company)"),
            [{"id": d, "name": f"{COMPANIES[d % len(COMPANIES)]} renewal {d}", "amount": round(rnd.uniform(1e3, 2e5), 2),
              "stage": rnd.choice(DEAL_STAGES), "company": 1 + d % len(COMPANIES)} for d in range(1, max(2, rows // 20) + 1)],
        )
    return engine


def edit_rows(engine: Engine, percent: float = 1.0, seed: int | None = None) -> list[int]:
    """Change ``percent`` % of the valid customers (a new city and revenue); returns their ids."""
    rnd = random.Random(seed)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT customer_id FROM customers ORDER BY customer_id"))]
        valid = [i for i in ids if i % 100 not in (37, 73, 91)]
        chosen = sorted(rnd.sample(valid, max(1, round(len(ids) * percent / 100))))
        for cid in chosen:
            conn.execute(
                text("UPDATE customers SET city = :city, annual_revenue = :rev WHERE customer_id = :id"),
                {"city": rnd.choice(["Portland", "Miami", "Atlanta", "Phoenix"]), "rev": round(rnd.uniform(1, 9e6), 2),
                 "id": cid},
            )
    return chosen

"""What benchmarks and drills share: fresh databases, a connected gateway, a shop, orders, and the reckoning.

The reckoning is the at-most-once promise as numbers: for every order in our database, QuickBooks
holds exactly one invoice with its number, linked from the order, whose total is the order's total.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from decimal import Decimal

import sqlalchemy as sa

from benchmarks.sandbox_process import PROJECT, Sandbox
from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.models import Customer, Item, Order, OrderLine, OrderStatus
from qb_pipeline.db.session import make_engine, normalize_url, session_scope
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.factory import build_gateway, sandbox_settings
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.quickbooks.throttle import Throttle
from qb_pipeline.sync.invoice_draft import draft_invoice
from qb_pipeline.sync.pull import pull_name_list

POSTGRES_URL_VARIABLE = "QB_TEST_POSTGRES_URL"
RESULTS = PROJECT / "benchmarks" / "results"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def database_kinds() -> list[str]:
    """SQLite always; PostgreSQL too when QB_TEST_POSTGRES_URL names a server (as on CI)."""
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_VARIABLE) else ["sqlite"]


def fresh_database(kind: str) -> str:
    """A new, migrated database: a SQLite file, or a new database on the PostgreSQL server."""
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='qbp-db-')}/project.sqlite"
    else:
        server = os.environ[POSTGRES_URL_VARIABLE]
        name = f"qbp_bench_{uuid.uuid4().hex[:12]}"
        admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = normalize_url(server).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    name = sa.make_url(url).database
    admin = make_engine(os.environ[POSTGRES_URL_VARIABLE]).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def connect(
    sandbox: Sandbox, database_url: str, *, key: str | None = None, timeout_seconds: float = 30.0, **gateway_options
) -> tuple[sa.Engine, QuickBooksGateway]:
    """An engine and a gateway whose tokens live in that database (encrypted with `key`)."""
    engine = make_engine(database_url)
    settings, refresh_token = sandbox_settings(sandbox.connection_file, timeout_seconds=timeout_seconds)
    gateway = build_gateway(
        settings, engine, TokenCipher(key or new_key()), bootstrap_refresh_token=refresh_token, **gateway_options
    )
    return engine, gateway


def unthrottled(gateway: QuickBooksGateway) -> None:
    """Our client throttle off (the sandbox's limits are its own flag): what is measured is our code,
    the wire and the database, not QuickBooks' limits."""
    gateway.throttle = Throttle({"second": 10**9, "minute": 10**9, "batch_minute": 10**9})


def build_shop(sandbox: Sandbox, gateway: QuickBooksGateway, engine: sa.Engine, *, customers: int, items: int) -> None:
    """QuickBooks holds the customers and items; our database mirrors them."""
    sandbox.control("POST", "seed", {"customers": customers, "items": items})
    for entity in ("Customer", "Item"):
        pull_name_list(gateway, engine, entity)


def add_orders(engine: sa.Engine, count: int, *, prefix: str, lines: int = 3) -> None:
    """`count` orders of `lines` lines each, spread over every customer and item, committed in chunks."""
    with session_scope(engine) as session:
        customer_ids = session.scalars(sa.select(Customer.id).where(Customer.active).order_by(Customer.id)).all()
        item_ids = session.scalars(sa.select(Item.id).where(Item.active).order_by(Item.id)).all()
    for start in range(0, count, 2000):
        with session_scope(engine) as session:
            session.add_all(
                Order(
                    order_number=f"{prefix}-{n:05d}",
                    customer_id=customer_ids[n % len(customer_ids)],
                    ordered_at=utcnow(),
                    lines=[
                        OrderLine(
                            line_number=k + 1,
                            item_id=item_ids[(n * 7 + k) % len(item_ids)],
                            quantity=Decimal(n % 5 + k + 1),
                        )
                        for k in range(lines)
                    ],
                )
                for n in range(start, min(start + 2000, count))
            )


@dataclass
class Reckoning:
    orders: int
    synced: int
    invoices: int
    duplicates: int  # order numbers with more than one invoice in QuickBooks
    lost: int  # orders not synced, or synced without their invoice in QuickBooks
    wrong_totals: int
    wrong_links: int  # order linked to an invoice id other than the one holding its number

    @property
    def sound(self) -> bool:
        return not (self.duplicates or self.lost or self.wrong_totals or self.wrong_links)

    def as_dict(self) -> dict:
        return {**asdict(self), "sound": self.sound}


def reckon(sandbox: Sandbox, engine: sa.Engine, prefix: str = "") -> Reckoning:
    """Our orders (numbers starting with `prefix`) against every invoice QuickBooks holds."""
    # Counted by the order each invoice names in its PrivateNote marker, not by DocNumber: a company
    # may allow duplicate numbers, and the marker is what the push writes for auditing.
    by_number: dict[str, list[dict]] = {}
    for record in sandbox.control("GET", "dump/Invoice")["records"]:
        first_line = str(record.get("PrivateNote", "")).split("\n")[0]
        number = (
            first_line.removeprefix("qb_pipeline order ")
            if first_line.startswith("qb_pipeline order ")
            else record.get("DocNumber", "")
        )
        if str(number).startswith(prefix):
            by_number.setdefault(number, []).append(record)
    with session_scope(engine) as session:
        orders = session.scalars(sa.select(Order).where(Order.order_number.startswith(prefix))).all()
        expected = {o.order_number: (o.status, o.qb_invoice_id, draft_invoice(session, o).total) for o in orders}
    lost = wrong_totals = wrong_links = 0
    for number, (status, invoice_id, total) in expected.items():
        found = by_number.get(number, [])
        if status != OrderStatus.SYNCED or not found:
            lost += 1
            continue
        wrong_totals += Decimal(str(found[0]["TotalAmt"])) != total
        wrong_links += invoice_id not in {r["Id"] for r in found}
    statuses = Counter(status for status, _, _ in expected.values())
    return Reckoning(
        orders=len(expected),
        synced=statuses[OrderStatus.SYNCED],
        invoices=sum(len(v) for v in by_number.values()),
        duplicates=sum(1 for v in by_number.values() if len(v) > 1),
        lost=lost,
        wrong_totals=wrong_totals,
        wrong_links=wrong_links,
    )


def in_own_process(module: str, config: dict) -> dict:
    """`python -m <module> --one <config>` in a child process (so its peak RSS is its own): the JSON of
    its last line of output. SystemExit when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--one", json.dumps(config)], cwd=PROJECT, stdout=subprocess.PIPE, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"wrong result or failure in {config}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_result(name: str, result: dict) -> None:
    """benchmarks/results/<name>.json, which `run_all.py` gathers into latest.json."""
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"benchmark": name, **result}, indent=2, default=str) + "\n")
    print(f"peak RSS {result.get('peak_rss_mb', '?')} MB; written to {out.relative_to(PROJECT)}")

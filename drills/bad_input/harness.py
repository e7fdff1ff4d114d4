"""The bad-input drill's harness: a fresh shop per case, the checks, what a case reports."""

import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.models import (
    Customer,
    Item,
    Order,
    OrderLine,
    OrderStatus,
)
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.factory import build_gateway, sandbox_settings
from qb_pipeline.sandbox.client import SandboxClient
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pull import pull_name_list

D = Decimal


@dataclass
class CaseResult:
    category: str  # "order" | "customer" | "item" | "pricing csv" | "qbo response"
    name: str  # short description of the bad input
    passed: bool  # True when the error was clear/specific and nothing was lost/crashed
    error: str  # the error text a person would see
    detail: str = ""  # why it failed when passed is False


class CaseFailed(Exception):
    def __init__(self, detail: str, error: str = "") -> None:
        super().__init__(detail)
        self.detail, self.error = detail, error


EXISTING = object()  # stands for "the name of a record QuickBooks already holds"


class Raw(str):
    """A value the order app wrote as text into a numeric column (SQLite allows it)."""


class Drill:
    def __init__(self, sandbox_url: str, connection_file: Path, database_url: str) -> None:
        self.url, self.connection_file = sandbox_url.rstrip("/"), Path(connection_file)
        self.client = SandboxClient(self.connection_file)
        self.settings, self.refresh_token = sandbox_settings(self.connection_file, timeout_seconds=2)
        upgrade(database_url)
        self.next_url, self.tmp, self.count = database_url, Path(tempfile.mkdtemp(prefix="bad-input-")), 0
        self.engine: sa.Engine | None = None
        self.gateway = None
        self.progress: list[str] = []

    def control(self, method: str, path: str, payload: dict | None = None) -> dict:
        return self.client.control(method, path, payload, timeout=60, decimals=True)

    def inject(self, kind: str, path: str, count: int = 1, **extra) -> None:
        try:
            self.control("POST", "inject", {"kind": kind, "count": count, "path_contains": path, **extra})
        except urllib.error.HTTPError as error:  # e.g. a sandbox that does not know this fault kind yet
            raise CaseFailed(f"the sandbox refused fault {kind!r}: {error.read().decode()[:200]}") from None

    def fresh_db(self) -> sa.Engine:
        if self.engine is not None:
            self.engine.dispose()
        url, self.count = self.next_url, self.count + 1
        self.next_url = f"sqlite:///{self.tmp / f'case-{self.count}.sqlite'}"
        upgrade(url)
        self.engine = make_engine(url)
        return self.engine

    def fresh(self, customers: int = 4, items: int = 3, pull: tuple[str, ...] = ("Customer", "Item")) -> None:
        """An empty sandbox seeded with N customers and items, a new database, a gateway, the mirror pulled."""
        self.control("POST", "reset", {"seed": "none"})
        self.control("POST", "seed", {"customers": customers, "items": items})
        self.fresh_db()
        try:
            token = self.control("POST", "tokens/mint")["refresh_token"]
        except Exception:  # an older sandbox: the connection file's token
            token = self.refresh_token
        self.progress = []
        self.gateway = build_gateway(
            self.settings,
            self.engine,
            TokenCipher(new_key()),
            bootstrap_refresh_token=token,
            retries=3,
            throttle_wait=0.2,
            request_limit_seconds=4.0,  # the drill's hung answers come within 3 s (QuickBooks' limit: 120 s)
            progress=self.progress.append,
        )
        self.gateway.backoff_base = 0.05
        for entity in pull:
            pull_name_list(self.gateway, self.engine, entity)
        with session_scope(self.engine) as s:
            self.customers = list(s.scalars(sa.select(Customer.id).order_by(Customer.id)))
            self.items = list(s.scalars(sa.select(Item.id).order_by(Item.id)))

    # -- orders ----------------------------------------------------------------------------------
    def add_order(self, number: str, customer=0, lines=None, **fields) -> int:
        """customer: index into the mirrored customers (int), a name (str) or None. lines: (item, qty, price[, line no])
        with item an index into the mirrored items or a name; Raw(...) values are written as text."""
        lines = [(0, "2", None)] if lines is None else lines
        raw: list[tuple[int, str, str]] = []
        with session_scope(self.engine) as s:
            order = Order(
                order_number=number,
                ordered_at=utcnow(),
                **fields,
                customer_id=self.customers[customer] if isinstance(customer, int) else None,
                customer_name=customer if isinstance(customer, str) else None,
            )
            for n, (item, qty, price, *number_) in enumerate(lines, start=1):
                order.lines.append(
                    OrderLine(
                        line_number=number_[0] if number_ else n,
                        item_id=self.items[item] if isinstance(item, int) else None,
                        item_name=item if isinstance(item, str) else None,
                        quantity=D(1) if isinstance(qty, Raw) else D(qty),
                        unit_price=None if price is None or isinstance(price, Raw) else D(price),
                    )
                )
                raw += [
                    (n - 1, column, value)
                    for column, value in (("quantity", qty), ("unit_price", price))
                    if isinstance(value, Raw)
                ]
            s.add(order)
            s.flush()
            for index, column, value in raw:
                s.execute(
                    sa.text(f"UPDATE order_lines SET {column} = :v WHERE id = :i"),
                    {"v": str(value), "i": order.lines[index].id},
                )
            return order.id

    def push(self, run: str = "drill-1", income_account: str | None = "1"):
        return push_orders(
            self.gateway,
            self.engine,
            run,
            default_income_account_id=income_account,
            progress=self.progress.append,
            resend_wait=0.1,
        )

    def order(self, order_id: int) -> Order:
        with session_scope(self.engine) as s:
            return s.get(Order, order_id)

    def invoices(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for record in self.control("GET", "dump/Invoice")["records"]:
            found.setdefault(record.get("DocNumber"), []).append(record)
        return found

    def check_synced_once(self, order_ids: list[int]) -> None:
        invoices = self.invoices()
        for order_id in order_ids:
            order = self.order(order_id)
            mine = invoices.get(order.order_number, [])
            check(
                order.status == OrderStatus.SYNCED,
                f"order {order.order_number} is {order.status.value}, not synced ({order.status_reason})",
                order.status_reason or "",
            )
            check(len(mine) == 1, f"order {order.order_number} has {len(mine)} invoices in QuickBooks")
            check(mine[0]["Id"] == order.qb_invoice_id, f"order {order.order_number} is linked to the wrong invoice")

    def retry_due(self, run: str = "drill-2"):
        """Faults cleared and the retry made due now: the next run must finish what the first could not."""
        self.control("DELETE", "inject")
        with session_scope(self.engine) as s:
            s.execute(
                sa.update(Order)
                .where(Order.next_attempt_at.is_not(None))
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        return self.push(run)


def check(condition, detail: str, error: str = "") -> None:
    if not condition:
        raise CaseFailed(detail, error)


def needs(text: str, needles) -> None:
    missing = [n for n in needles if n.lower() not in (text or "").lower()]
    check(not missing, f"the message does not mention {', '.join(map(repr, missing))}", text)


# -- orders ----------------------------------------------------------------------------------------

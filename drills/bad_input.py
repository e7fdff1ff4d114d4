"""Bad input corpus drill: malformed orders, customers, items, pricing CSV rows and QuickBooks answers.

Each case feeds one bad input next to good ones and checks three things: the error a person sees is
specific (it names the actual problem), nothing crashes, and nothing is lost (the good orders/rows
beside the bad one still go through, exactly once). A case whose behaviour is wrong is reported as
failed with the reason; this module never changes product behaviour to make a case pass.
"""

from __future__ import annotations

import io
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from drills.bad_webhooks import WEBHOOK_CASES
from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    Item,
    ItemPrice,
    Order,
    OrderLine,
    OrderStatus,
    QBInvoice,
    SyncCursor,
    SyncState,
)
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.errors import QuickBooksError
from qb_pipeline.quickbooks.factory import build_gateway, sandbox_settings
from qb_pipeline.sandbox.client import SandboxClient
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pricing_csv import (
    PricingFileError,
    import_pricing,
    read_pricing_file,
)
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline.sync.push import push_name_list

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
def bad_order(status: str, *needles: str, number: str = "BAD-1", setup: Callable | None = None, **order) -> Callable:
    def run(d: Drill) -> str:
        d.fresh()
        if setup:
            setup(d)
        good = [d.add_order("GOOD-1"), d.add_order("GOOD-2", customer=1, lines=[(1, "3", None), (0, "1.5", None)])]
        bad = d.add_order(number, **order)
        d.push()
        row = d.order(bad)
        error = row.status_reason or ""
        check(row.status.value == status, f"bad order is {row.status.value}, expected {status}", error)
        needs(error, needles)
        check(number.strip() not in d.invoices() or not number.strip(), "the bad order got an invoice anyway", error)
        d.check_synced_once(good)
        return error

    return run


def accepted_exactly(**order) -> Callable:
    """Input the product does not refuse: passes when refused with a reason naming a line, or invoiced unaltered."""

    def run(d: Drill) -> str:
        d.fresh()
        good, bad = d.add_order("GOOD-1"), d.add_order("ODD-1", **order)
        d.push()
        row = d.order(bad)
        d.check_synced_once([good])
        if row.status != OrderStatus.SYNCED:
            needs(row.status_reason, ["line"])
            return row.status_reason
        invoice = d.invoices()["ODD-1"][0]
        lines = [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
        check(len(lines) == len(order["lines"]), f"invoice has {len(lines)} lines, the order {len(order['lines'])}")
        for line, (_item, qty, *_rest) in zip(lines, order["lines"]):
            check(
                D(str(line["SalesItemLineDetail"]["Qty"])) == D(qty),
                f"invoice Qty {line['SalesItemLineDetail']['Qty']} is not the ordered {qty}",
            )
        return f"(accepted: invoiced unaltered as Id {invoice['Id']})"

    return run


def deactivate(model, index: int):
    def setup(d: Drill) -> None:
        with session_scope(d.engine) as s:
            s.get(model, (d.customers if model is Customer else d.items)[index]).active = False

    return setup


def add_rows(*rows):
    def setup(d: Drill) -> None:
        with session_scope(d.engine) as s:
            s.add_all([model(**fields) for model, fields in rows])

    return setup


def no_item_price(d: Drill) -> None:
    with session_scope(d.engine) as s:
        s.get(Item, d.items[2]).unit_price = None
        s.execute(sa.delete(ItemPrice).where(ItemPrice.item_id == d.items[2]))  # nor in its price history


def invoice_in_qbo_for_other_customer(d: Drill) -> None:
    with session_scope(d.engine) as s:
        customer, item = s.get(Customer, d.customers[3]).qb_id, s.get(Item, d.items[0]).qb_id
    d.gateway.create(
        "Invoice",
        {
            "DocNumber": "TAKEN-1",
            "CustomerRef": {"value": customer},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": D("1.00"),
                    "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": D(1), "UnitPrice": D("1.00")},
                }
            ],
        },
        "drill-taken",
    )


def doc_number_taken(d: Drill) -> str:
    d.fresh()
    invoice_in_qbo_for_other_customer(d)
    good, bad = d.add_order("GOOD-1"), d.add_order("TAKEN-1", customer=0)
    d.push()
    d.check_synced_once([good])
    row, taken = d.order(bad), d.invoices()["TAKEN-1"]
    if row.status == OrderStatus.SYNCED:
        invoice = next(i for i in taken if i["Id"] == row.qb_invoice_id)
        with session_scope(d.engine) as s:
            mine = s.get(Customer, d.customers[0]).qb_id
        check(
            invoice["CustomerRef"]["value"] == mine,
            f"order silently linked to invoice {invoice['Id']} of customer "
            f"{invoice['CustomerRef'].get('name')!r} (total {invoice['TotalAmt']}): not this order's customer",
            "(no error: order marked synced)",
        )
        return "(linked to the matching invoice)"
    needs(row.status_reason, ["TAKEN-1"])
    return row.status_reason


def huge_amount(d: Drill) -> str:
    d.fresh()
    good, bad = d.add_order("GOOD-1"), d.add_order("HUGE-1", lines=[(0, "999999999999", "99.99")])
    d.push()
    d.check_synced_once([good])
    row = d.order(bad)
    if row.status == OrderStatus.SYNCED:
        total = d.invoices()["HUGE-1"][0]["TotalAmt"]
        with session_scope(d.engine) as s:
            mirrored = s.scalar(sa.select(QBInvoice.total_amt).where(QBInvoice.doc_number == "HUGE-1"))
        raise CaseFailed(
            f"accepted: ordered 99989999999900.01, QBO answered TotalAmt {total}, mirrored as {mirrored}; "
            "exceeds the MONEY column NUMERIC(14,2) (12 integer digits) and no amount limit is checked",
            "(no error: order synced)",
        )
    needs(row.status_reason, ["amount"])
    return row.status_reason


def two_orders_one_number(d: Drill) -> str:
    """'W-2' (1 unit) and 'W-2 ' (500 units) for one customer: QuickBooks would trim the second to the first."""
    d.fresh()
    first, second = d.add_order("W-2", lines=[(0, "1", None)]), d.add_order("W-2 ", lines=[(0, "500", None)])
    d.push()
    d.check_synced_once([first])
    row = d.order(second)
    check(
        row.status == OrderStatus.FAILED and row.qb_invoice_id is None,
        f"'W-2 ' is {row.status.value}, linked to {row.qb_invoice_id}",
        row.status_reason or "",
    )
    needs(row.status_reason, ["'W-2 '", "space"])
    return row.status_reason


ORDER_CASES = [
    ("no lines", bad_order("failed", "no lines", lines=[])),
    ("unknown customer name", bad_order("failed", "Nobody Ltd", "customer list", customer="Nobody Ltd")),
    ("no customer at all", bad_order("failed", "no customer", customer=None)),
    (
        "ambiguous customer name",
        bad_order(
            "failed",
            "matches 2",
            customer="customer x",
            setup=add_rows((Customer, {"display_name": "Customer X"}), (Customer, {"display_name": "CUSTOMER X"})),
        ),
    ),
    ("unknown item name", bad_order("failed", "line 1", "Gizmo 9000", "item list", lines=[("Gizmo 9000", "1", None)])),
    ("zero quantity", bad_order("failed", "quantity", "greater than zero", lines=[(0, "0", None)])),
    ("negative quantity", bad_order("failed", "quantity", "-3", lines=[(0, "-3", None)])),
    (
        "non-numeric quantity stored raw",
        bad_order("failed", "quantity", "two", "not a number", lines=[(0, Raw("two"), None)]),
    ),
    (
        "infinite quantity stored raw",
        bad_order("failed", "quantity", "not a number", lines=[(0, Raw("Infinity"), None)]),
    ),
    ("non-numeric price stored raw", bad_order("failed", "price", "abc", "not a number", lines=[(0, "1", Raw("abc"))])),
    ("price with three decimals", bad_order("failed", "price", "9.999", "two decimals", lines=[(0, "1", "9.999")])),
    ("negative price", bad_order("failed", "price", "negative", lines=[(0, "1", "-5")])),
    (
        "bad third line of three",
        bad_order("failed", "line 3", "quantity", lines=[(0, "1", None), (1, "2", None), (2, "0", None)]),
    ),
    ("blank order number", bad_order("failed", "no order number", number="")),
    ("whitespace-only order number", bad_order("failed", "no order number", number="   ")),
    ("order number over 21 characters", bad_order("failed", "23 characters", "21", number="SO-" + "9" * 20)),
    ("1000 lines on one order", bad_order("failed", "1000 lines", "999", lines=[(0, "1", None)] * 1000)),
    ("inactive customer", bad_order("blocked", "inactive", customer=2, setup=deactivate(Customer, 2))),
    ("inactive item", bad_order("blocked", "line 1", "inactive", lines=[(2, "1", None)], setup=deactivate(Item, 2))),
    (
        "item with no price anywhere",
        bad_order("failed", "line 1", "no price", lines=[(2, "1", None)], setup=no_item_price),
    ),
    (
        "new customer QuickBooks refuses (':' in name)",
        bad_order(
            "blocked",
            "Acme: East",
            "':'",
            customer="Acme: East",
            setup=add_rows((Customer, {"display_name": "Acme: East"})),
        ),
    ),
    (
        "new item without an income account",
        bad_order(
            "blocked",
            "Local Widget",
            "IncomeAccountRef",
            lines=[("Local Widget", "1", None)],
            setup=add_rows((Item, {"name": "Local Widget", "unit_price": D("5.00"), "income_account_qb_id": "999"})),
        ),
    ),
    ("order number used in QuickBooks by another customer's invoice", doc_number_taken),
    ("amount beyond the money columns (huge quantity)", huge_amount),
    ("order number with a trailing space", bad_order("failed", "'W-1 '", "space", number="W-1 ")),
    ("quantity 1e26 stored raw", bad_order("failed", "quantity", "1E+26", "too large", lines=[(0, Raw("1e26"), None)])),
    ("two orders that could claim one invoice ('W-2', 'W-2 ')", two_orders_one_number),
    ("quantity with 7 decimals", accepted_exactly(lines=[(0, "1.1234567", None)])),
    ("duplicate line numbers", accepted_exactly(lines=[(0, "1", None, 1), (1, "2", None, 1)])),
]


# -- customers and items created in our database ---------------------------------------------------
def bad_name_row(
    entity: str,
    fields: dict,
    *needles: str,
    pull: tuple = ("Customer", "Item"),
    income_account: str | None = "1",
    linked: bool = False,
) -> Callable:
    """fields[name] = EXISTING: the name of a record already in QuickBooks."""
    model, name = (Customer, "display_name") if entity == "Customer" else (Item, "name")
    key = "DisplayName" if entity == "Customer" else "Name"
    extra = {} if entity == "Customer" else {"unit_price": D("3.00")}

    def run(d: Drill) -> str:
        d.fresh(pull=pull)
        row = dict(fields)
        if row.get(name) is EXISTING:
            row[name] = d.control("GET", f"dump/{entity}")["records"][1][key]
        with session_scope(d.engine) as s:
            good = model(
                **{name: f"Good New {entity}"},
                **extra,
                **({} if entity == "Customer" else {"income_account_qb_id": "1"}),
            )
            bad = model(**{**extra, **row})
            s.add_all([good, bad])
            s.flush()
            good_id, bad_id = good.id, bad.id
        try:
            result = push_name_list(d.gateway, d.engine, entity, default_income_account_id=income_account)
        except Exception as error:
            try:
                push_name_list(d.gateway, d.engine, entity, default_income_account_id=income_account)
                again = "; the next push went through"
            except Exception:
                again = "; the next push crashes the same way (the good row is never recorded)"
            raise CaseFailed(
                f"push_name_list crashed: {type(error).__name__}: {str(error).splitlines()[0]}{again}",
                str(error).splitlines()[0],
            ) from None
        records = d.control("GET", f"dump/{entity}")["records"]
        with session_scope(d.engine) as s:
            good, bad = s.get(model, good_id), s.get(model, bad_id)
            check(good.sync_state == SyncState.SYNCED and good.qb_id, f"the good {entity.lower()} was not pushed")
            check(
                sum(r[key] == f"Good New {entity}" for r in records) == 1,
                f"the good {entity.lower()} is not in QBO once",
            )
            if linked:
                same = [r for r in records if r[key].lower() == getattr(bad, name).lower()]
                check(
                    len(same) == 1 and bad.qb_id == same[0]["Id"] and result.linked == 1,
                    f"duplicate name not linked ({len(same)} in QBO, {result.linked} linked)",
                )
                return f"(linked to existing {entity.lower()} {same[0][key]!r}, Id {bad.qb_id})"
            check(bad.sync_state == SyncState.FAILED and bad.qb_id is None, f"bad row is {bad.sync_state.value}")
            needs(bad.last_error, needles)
            return bad.last_error

    return run


NAME_CASES = [
    (
        "customer",
        "display name of 501 characters",
        bad_name_row("Customer", {"display_name": "C" * 501}, "DisplayName", "500"),
    ),
    (
        "customer",
        "display name with a colon",
        bad_name_row("Customer", {"display_name": "Acme: East"}, "Acme: East", "':'"),
    ),
    ("customer", "display name with a tab", bad_name_row("Customer", {"display_name": "Acme\tEast"}, "cannot contain")),
    ("customer", "blank display name", bad_name_row("Customer", {"display_name": "   "}, "DisplayName", "missing")),
    (
        "customer",
        "name already in QBO, not yet mirrored",
        bad_name_row("Customer", {"display_name": EXISTING}, pull=("Item",), linked=True),
    ),
    (
        "customer",
        "name already in QBO and in the mirror",
        bad_name_row("Customer", {"display_name": EXISTING}, "already linked", "merge"),
    ),
    (
        "customer",
        "two new rows with the same name",
        bad_name_row("Customer", {"display_name": "Good New Customer"}, "already linked", "merge"),
    ),
    ("item", "name of 101 characters", bad_name_row("Item", {"name": "I" * 101}, "Name", "100")),
    ("item", "name with a colon", bad_name_row("Item", {"name": "Bolts: M6"}, "Bolts: M6", "':'")),
    ("item", "blank name", bad_name_row("Item", {"name": " "}, "Name", "missing")),
    (
        "item",
        "no income account",
        bad_name_row("Item", {"name": "No Account"}, "No Account", "IncomeAccountRef", income_account=None),
    ),
    (
        "item",
        "income account that does not exist",
        bad_name_row("Item", {"name": "Bad Account", "income_account_qb_id": "999"}, "IncomeAccountRef", "999"),
    ),
    (
        "item",
        "unknown item type",
        bad_name_row("Item", {"name": "Bundle Thing", "item_type": "Bundle"}, "Type", "Bundle"),
    ),
    (
        "item",
        "name already in QBO, not yet mirrored",
        bad_name_row("Item", {"name": EXISTING}, pull=("Customer",), linked=True),
    ),
]


# -- pricing CSV -----------------------------------------------------------------------------------
HEADER = "kind,customer,price_level,item,price,percent,valid_from"
GOOD_ROW = "customer_price,Acme,,Widget,18.50,,"


def bad_csv(rows: str, *needles: str, line: int = 3, header: str = HEADER, good: bool = True) -> Callable:
    def run(d: Drill) -> str:
        engine = d.fresh_db()
        with session_scope(engine) as s:
            s.add_all(
                [
                    Customer(display_name="Acme"),
                    Customer(display_name="Bolt Co"),
                    Item(name="Widget", unit_price=D("20.00")),
                    Item(name="Gadget", unit_price=D("5.00")),
                ]
            )
        text = "\n".join(part for part in (header, GOOD_ROW if good else "", rows) if part) + "\n"
        with session_scope(engine) as s:
            report = import_pricing(s, io.StringIO(text))
        error = "; ".join(f"line {n}: {m}" for n, m in report.errors)
        mine = [m for n, m in report.errors if n == line]
        check(
            mine,
            f"no error reported for line {line} (applied {report.applied} rows, errors: {report.errors or 'none'})",
            error,
        )
        needs(mine[0], needles)
        if good:
            with session_scope(engine) as s:
                prices = s.scalars(
                    sa.select(CustomerItemPrice.unit_price)
                    .join(Customer)
                    .where(CustomerItemPrice.valid_to.is_(None), Customer.display_name == "Acme")
                ).all()
            check(prices == [D("18.50")], f"the good row did not leave exactly one price in force: {prices}", error)
        return error

    return run


def not_utf8_file(d: Drill) -> str:
    path = d.tmp / "excel.csv"
    path.write_bytes(f"{HEADER}\ncustomer_price,Café,,Widget,1.00,,\n".encode("cp1252"))
    try:
        read_pricing_file(path)
    except PricingFileError as error:
        needs(str(error), ["excel.csv", "line 2", "UTF-8"])
        return str(error)
    raise CaseFailed("a cp1252 file was read without complaint", "(no error)")


CSV_CASES = [
    ("unknown customer", bad_csv("customer_price,Nobody,,Widget,1.00,,", "Nobody", "customer list")),
    ("unknown item", bad_csv("customer_price,Bolt Co,,Gizmo,1.00,,", "Gizmo", "item list")),
    ("empty customer cell", bad_csv("customer_price,,,Widget,1.00,,", "customer is empty")),
    ("non-numeric price", bad_csv("customer_price,Bolt Co,,Widget,abc,,", "price", "abc", "not a number")),
    ("decimal comma price", bad_csv('customer_price,Bolt Co,,Widget,"1,50",,', "1,50", "not a number")),
    ("negative price", bad_csv("customer_price,Bolt Co,,Widget,-1.00,,", "price", "negative")),
    ("price with three decimals", bad_csv("customer_price,Bolt Co,,Widget,1.999,,", "1.999", "two decimals")),
    ("percent out of range", bad_csv("level_percent,,Deep,,,-150,", "-150", "-100")),
    ("unknown kind", bad_csv("refund,Acme,,,,,", "unknown kind", "refund")),
    (
        "valid_from without a time zone",
        bad_csv("customer_price,Bolt Co,,Gadget,3.00,,2026-12-01", "valid_from", "time zone"),
    ),
    ("level_item with both price and percent", bad_csv("level_item,,VIP,Gadget,4.00,10,", "price", "percent")),
    (
        "level kind mismatch",
        bad_csv("level_percent,,Mixed,,,-5,\nlevel_item,,Mixed,Gadget,4.00,,", "Mixed", "FixedPercentage", line=4),
    ),
    ("assignment to a missing level", bad_csv("assignment,Bolt Co,Ghost,,,,", "Ghost", "does not exist")),
    ("missing kind column", bad_csv("Acme,Widget,1.00", "kind", line=1, header="customer,item,price", good=False)),
    ("empty file", bad_csv("", "header", line=1, header="", good=False)),
    (
        "conflicting duplicate rows (same customer, item, valid_from)",
        bad_csv(
            "customer_price,Bolt Co,,Widget,12.00,,2026-01-01T00:00:00+00:00\n"
            "customer_price,Bolt Co,,Widget,13.00,,2026-01-01T00:00:00+00:00",
            "conflicts with line 3",
            line=4,
        ),
    ),
    ("truncated row (would end the price)", bad_csv("customer_price,Acme,,Widget", "4 fields", "header 7")),
    ("assignment without its level cell", bad_csv("assignment,Acme", "2 fields")),
    ("empty price cell (would end the price)", bad_csv("customer_price,Acme,,Widget,,,", "price is empty", "END")),
    (
        "unquoted thousands separator (1,250.00)",
        bad_csv("customer_price,Acme,,Widget,1,250.00,,", "thousands separator"),
    ),
    (
        "unknown header column (unit_price)",
        bad_csv(
            "customer_price,Acme,,Widget,8.00,,",
            "unit_price",
            line=1,
            header="kind,customer,price_level,item,unit_price,percent,valid_from",
            good=False,
        ),
    ),
    ("price 1e30", bad_csv("customer_price,Bolt Co,,Widget,1e30,,", "1e30", "not a number")),
    ("percent with five decimals", bad_csv("level_percent,,Odd,,,-12.34565,", "-12.34565", "four decimals")),
    (
        "past valid_from without --backdate",
        bad_csv("customer_price,Acme,,Widget,9.00,,2026-02-01T00:00:00+00:00", "in the past", "--backdate"),
    ),
    ("a file that is not UTF-8 (Excel's cp1252)", not_utf8_file),
]


# -- malformed or failed QuickBooks answers --------------------------------------------------------
def invoice_batch_fault(kind: str, count: int, *needles: str, retried_later: bool = False, **extra) -> Callable:
    def run(d: Drill) -> str:
        d.fresh()
        orders = [d.add_order(f"SO-{n}", customer=n % 4, lines=[(n % 3, "2", None)]) for n in range(4)]
        d.inject(kind, "/batch", count, **extra)
        d.push()
        error = " | ".join(m for m in d.progress if "retry" in m)
        rows = [d.order(i) for i in orders]
        if retried_later or any(r.status != OrderStatus.SYNCED for r in rows):
            error = rows[0].status_reason or ""
            check(
                all(r.status == OrderStatus.FAILED and r.next_attempt_at for r in rows),
                "orders are not failed-and-retryable: "
                + ", ".join(f"{r.status.value}/{r.next_attempt_at}" for r in rows),
                error,
            )
            needs(error, needles)
            d.retry_due()
        else:
            needs(error, needles)
        d.check_synced_once(orders)
        return error

    return run


def lookup_fault(d: Drill) -> str:
    """An order whose invoice reached QBO but was never recorded (a crash); its lookup answer lacks every field."""
    d.fresh()
    order = d.add_order("SO-LOST")
    d.push()
    with session_scope(d.engine) as s:  # as if the run died after the write: pending again, attempted once
        s.execute(sa.update(Order).values(status=OrderStatus.PENDING, qb_invoice_id=None, synced_at=None))
    d.inject("missing-fields", "/query", 1)
    result = d.push("drill-2")
    d.check_synced_once([order])
    return "; ".join(result.reasons) or f"(recovered: {result.linked} linked, {result.pushed} created)"


def pull_fault(kind: str, count: int, *needles: str) -> Callable:
    def run(d: Drill) -> str:
        d.fresh(customers=40, pull=())
        d.inject(kind, "/query", count)
        try:
            result = pull_name_list(d.gateway, d.engine, "Customer")
        except QuickBooksError as error:
            with session_scope(d.engine) as s:
                check(
                    s.get(SyncCursor, (d.gateway.realm_id, "Customer")) is None, "cursor advanced after a failed pull"
                )
            needs(str(error), needles)
            return str(error)
        error = " | ".join(m for m in d.progress if "retry" in m)
        check(
            result.pulled == 40,
            f"pull finished without error but holds {result.pulled} of 40 customers; "
            "the cursor moved on, so the rest are never pulled",
            error or "(no error)",
        )
        needs(error, needles)
        return error

    return run


def customer_push_fault(d: Drill) -> str:
    d.fresh()
    with session_scope(d.engine) as s:
        s.add_all([Customer(display_name=f"New Customer {n}") for n in range(3)])
    d.inject("missing-fields", "/batch", 1)
    first = push_name_list(d.gateway, d.engine, "Customer")
    error = "; ".join(first.errors) or " | ".join(m for m in d.progress if "retry" in m)
    d.control("DELETE", "inject")
    push_name_list(d.gateway, d.engine, "Customer")
    names = [r["DisplayName"] for r in d.control("GET", "dump/Customer")["records"]]
    with session_scope(d.engine) as s:
        stuck = s.scalars(sa.select(Customer.display_name).where(Customer.qb_id.is_(None))).all()
    check(
        not stuck,
        f"a transient failure left {len(stuck)} customers FAILED; the next push skips them "
        "(they wait for a manual edit)",
        error,
    )
    check(all(names.count(f"New Customer {n}") == 1 for n in range(3)), "customers duplicated or missing in QBO", error)
    return error


QBO_CASES = [
    ("truncated JSON on the invoice batch, once", invoice_batch_fault("truncated", 1, "non-JSON")),
    (
        "truncated JSON on every invoice batch try",
        invoice_batch_fault("truncated", 10, "non-JSON", "gave up", retried_later=True),
    ),
    ("missing-fields on the invoice batch", invoice_batch_fault("missing-fields", 1, "answer")),
    ("non-JSON 200 on the invoice batch, once", invoice_batch_fault("non-json", 1, "non-JSON")),
    ("429 as XML, then success", invoice_batch_fault("429-xml", 1, "throttled")),
    ("connection dropped mid-response, once", invoice_batch_fault("drop", 1, "Error")),
    ("HTTP 500, then success", invoice_batch_fault("500", 1, "HTTP 500")),
    ("HTTP 503 on every try", invoice_batch_fault("503", 10, "503", "gave up", retried_later=True)),
    ("answer lost after the write (timeout)", invoice_batch_fault("timeout", 1, "Timeout", seconds=3)),
    ("missing-fields on the invoice lookup of a retried order", lookup_fault),
    ("truncated JSON on a customer pull query, once", pull_fault("truncated", 1, "non-JSON")),
    ("truncated JSON on every customer pull query", pull_fault("truncated", 10, "non-JSON", "gave up")),
    ("missing-fields on a customer pull query", pull_fault("missing-fields", 1, "QueryResponse")),
    ("missing-fields on the customer create batch", customer_push_fault),
]


def all_cases() -> list[tuple[str, str, Callable[[Drill], str]]]:
    return (
        [("order", name, fn) for name, fn in ORDER_CASES]
        + [(c, name, fn) for c, name, fn in NAME_CASES]
        + [("pricing csv", name, fn) for name, fn in CSV_CASES]
        + [("qbo response", name, fn) for name, fn in QBO_CASES]
        + [("webhook", name, fn) for name, fn in WEBHOOK_CASES]
    )


def run_bad_input_corpus(sandbox_url: str, connection_file: Path, database_url: str) -> list[CaseResult]:
    drill = Drill(sandbox_url, connection_file, database_url)
    saved = drill.control("GET", "settings")
    drill.control("POST", "settings", {"latency_ms": 0, "limits": "off"})
    results = []
    try:
        for category, name, case in all_cases():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    results.append(CaseResult(category, name, True, case(drill)))
            except CaseFailed as failed:
                results.append(CaseResult(category, name, False, failed.error, failed.detail))
            except Exception as error:  # a crash is a finding, not the end of the drill
                results.append(
                    CaseResult(
                        category,
                        name,
                        False,
                        f"{type(error).__name__}: {str(error)[:300]}",
                        "crashed instead of reporting the bad input",
                    )
                )
            finally:
                try:
                    drill.control("DELETE", "inject")
                except Exception:
                    pass
    finally:
        drill.control("POST", "settings", saved)
        if drill.engine is not None:
            drill.engine.dispose()
    return results

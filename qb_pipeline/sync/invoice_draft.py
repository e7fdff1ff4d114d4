"""An order checked and priced into the invoice QuickBooks will get, or a reason a person can act on.

No HTTP here: the draft names local customer and item rows; `payload()` needs their QuickBooks Ids,
which the push path fills in first (creating missing customers and items).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timezone, tzinfo
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db import queries
from qb_pipeline.db.models import Customer, Item, Order, OrderStatus, SyncState
from qb_pipeline.db.names import name_key
from qb_pipeline.db.types import UNIT_PRICE_PLACES, plain_decimal, to_cents, to_unit_price
from qb_pipeline.sync.merged_items import order_reason, survivor_names
from qb_pipeline.sync.price_book import IN_LIST_CHUNK, PriceBook, PricingError

MAX_DOC_NUMBER_LENGTH = 21  # QBO's limit on Invoice.DocNumber
# QBO documents no line limit; we refuse orders past this so one order cannot produce a request
# too large to retry safely. An order with 1,000 lines is almost certainly an upstream bug.
MAX_INVOICE_LINES = 999
MAX_AMOUNT = Decimal("999999999999.99")  # the largest our money columns (NUMERIC(14, 2)) hold
# Quantities and prices are refused at this size before any arithmetic: 1e26 × a price overflows
# Decimal's 28 digits when quantized (InvalidOperation), which must fail the order, not the run.
MAX_FACTOR = Decimal("1e12")
# Every invoice names its order in PrivateNote, so anyone (and the tests) can count invoices per order
# in QuickBooks without trusting DocNumber.
MARKER_PREFIX = "qb_pipeline order "
# How a reason says a customer or item name is unknown: such an order goes again by itself once a
# customers or items sync brings the name in (sync/order_actions.py). The earlier wording stays in the
# reasons of orders that failed before it changed.
UNKNOWN_NAME = "add it in QuickBooks"
EARLIER_UNKNOWN_NAME = "add it, or correct the order"


def invoice_marker(order_number: str) -> str:
    return f"{MARKER_PREFIX}{order_number}"


def marked_order(record: dict) -> str | None:
    """The order number an invoice's PrivateNote marker names, or None for an unmarked invoice."""
    first_line = str(record.get("PrivateNote") or "").split("\n", 1)[0]
    return first_line[len(MARKER_PREFIX) :] if first_line.startswith(MARKER_PREFIX) else None


class OrderRejected(Exception):
    """The order cannot become an invoice now. FAILED = fix the order; BLOCKED = fix a prerequisite."""

    def __init__(self, status: OrderStatus, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class DraftLine:
    item: Item
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    price_source: str
    description: str | None = None


@dataclass(frozen=True)
class InvoiceDraft:
    order_id: int
    doc_number: str
    customer: Customer
    lines: tuple[DraftLine, ...]
    txn_date: str
    memo: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    @property
    def in_quickbooks(self) -> bool:
        """Whether its customer and every item are in QuickBooks (have an Id there)."""
        return self.customer.qb_id is not None and all(line.item.qb_id is not None for line in self.lines)

    def payload(self) -> dict:
        """The QBO Invoice body. Amount = Qty × UnitPrice to the cent, exactly as QBO checks it; UnitPrice
        to its own places, without trailing zeros (0.125, not 0.1250000)."""
        if not self.in_quickbooks:
            raise ValueError("customer and items must be in QuickBooks before the invoice is built")
        body = {
            "DocNumber": self.doc_number,
            "TxnDate": self.txn_date,
            "CustomerRef": {"value": self.customer.qb_id},
            "Line": [
                {
                    "LineNum": number,
                    "DetailType": "SalesItemLineDetail",
                    "Amount": line.amount,
                    **({"Description": line.description} if line.description else {}),
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": line.item.qb_id},
                        "Qty": line.quantity,
                        "UnitPrice": plain_decimal(line.unit_price),
                    },
                }
                for number, line in enumerate(self.lines, start=1)
            ],
        }
        body["PrivateNote"] = (invoice_marker(self.doc_number) + (f"\n{self.memo}" if self.memo else ""))[:4000]
        return body


class Catalog:
    """The customers, items and pricing history some orders name, read in a few queries, so that drafting
    a thousand orders costs a few queries rather than several per line: one `CompanyCatalog` per company
    the orders name (an order is priced from its own company's customers, items and prices only)."""

    def __init__(self, session: Session, orders: Iterable[Order]) -> None:
        by_company: dict[str | None, list[Order]] = {}
        for order in orders:
            by_company.setdefault(order.realm_id, []).append(order)
        self.companies = {realm: CompanyCatalog(session, realm, named) for realm, named in by_company.items()}

    def of(self, order: Order) -> CompanyCatalog:
        return self.companies[order.realm_id]


class CompanyCatalog:
    """One company's part of a `Catalog`. Names match by their key (db/names.py), computed here for the
    order's names (the order app writes them) and stored for ours. `realm_id` None (an order not assigned
    to a company yet, shown before a push adopts it): rows of any company."""

    def __init__(self, session: Session, realm_id: str | None, orders: list[Order]) -> None:
        self.customers_by_id, self.customers_by_name = _rows(
            session,
            realm_id,
            Customer,
            {o.customer_id for o in orders if o.customer_id is not None},
            {name_key(o.customer_name) for o in orders if o.customer_id is None and o.customer_name},
        )
        lines = [line for order in orders for line in order.lines]
        self.items_by_id, self.items_by_name = _rows(
            session,
            realm_id,
            Item,
            {line.item_id for line in lines if line.item_id is not None},
            {name_key(line.item_name) for line in lines if line.item_id is None and line.item_name},
        )
        customer_ids = set(self.customers_by_id) | {c.id for rows in self.customers_by_name.values() for c in rows}
        items = [*self.items_by_id.values(), *(i for rows in self.items_by_name.values() for i in rows)]
        self.prices = PriceBook(session, customer_ids, {i.id for i in items})
        merged = {i.merged_into_qb_id for i in items if i.merged_into_qb_id}
        self.survivors = survivor_names(session, merged, realm_id)


def _rows(session: Session, realm_id: str | None, model, ids: set, keys: set) -> tuple[dict, dict]:
    """The rows of `model` the orders name by id and by name key, in their company (an id of another
    company's row names nothing here)."""
    in_company = () if realm_id is None else (model.realm_id == realm_id,)
    by_id = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), IN_LIST_CHUNK):
        chunk = model.id.in_(wanted[start : start + IN_LIST_CHUNK])
        for row in session.scalars(sa.select(model).where(chunk, *in_company)):
            by_id[row.id] = row
    return by_id, queries.rows_by_name_key(session, model, keys, *in_company)


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """A line's amount as QuickBooks computes it: quantity × unit price, rounded half up to the cent."""
    return to_cents(quantity * unit_price)


def draft_invoice(
    session: Session, order: Order, company_timezone: tzinfo = timezone.utc, catalog: Catalog | None = None
) -> InvoiceDraft:
    """Check and price one order; raises OrderRejected with a specific reason. The invoice is dated with
    the company's calendar date of the order's instant. `catalog`: one read for many orders."""
    catalog = (catalog or Catalog(session, [order])).of(order)
    doc_number = order.order_number or ""
    if not doc_number.strip():
        _fail("the order has no order number")
    if doc_number != doc_number.strip():
        # QuickBooks trims a DocNumber: "W-1 " would become, and then find, the invoice of order "W-1".
        _fail(
            f"order number {doc_number!r} starts or ends with a space: correct it in the order (numbers are "
            "used exactly as written, so it cannot be mistaken for another order's invoice)"
        )
    if len(doc_number) > MAX_DOC_NUMBER_LENGTH:
        _fail(
            f"order number {doc_number!r} has {len(doc_number)} characters; QuickBooks invoice numbers "
            f"allow at most {MAX_DOC_NUMBER_LENGTH}"
        )
    if not order.lines:
        _fail("the order has no lines")
    if len(order.lines) > MAX_INVOICE_LINES:
        _fail(f"the order has {len(order.lines)} lines; at most {MAX_INVOICE_LINES} fit on one invoice — split it")

    customer = _resolve(
        catalog.customers_by_id,
        catalog.customers_by_name,
        order.customer_id,
        order.customer_name,
        "customer",
        fix=(doc_number, "--customer NAME"),
    )
    _check_usable(customer, "customer", customer.display_name)
    lines = tuple(_draft_line(catalog, order, customer, line) for line in order.lines)
    total = sum((line.amount for line in lines), Decimal(0))
    if total > MAX_AMOUNT:
        _fail(
            f"the order total {plain_decimal(total)} is larger than {plain_decimal(MAX_AMOUNT)}, the most an "
            "invoice can carry here: check the quantities and prices"
        )
    return InvoiceDraft(
        order_id=order.id,
        doc_number=doc_number,
        customer=customer,
        lines=lines,
        txn_date=order.ordered_at.astimezone(company_timezone).date().isoformat(),
        memo=order.memo,
    )


def _draft_line(catalog: CompanyCatalog, order: Order, customer: Customer, line) -> DraftLine:
    where = f"line {line.line_number}"
    item = _resolve(
        catalog.items_by_id,
        catalog.items_by_name,
        line.item_id,
        line.item_name,
        "item",
        fix=(order.order_number, "--line ITEM:QTY --line …"),
        where=where,
    )
    if item.merged_away_at is not None:  # QuickBooks refuses it (2500): only the order can change
        _fail(f"{where}: {order_reason(item.name, catalog.survivors.get(item.merged_into_qb_id), order.order_number)}")
    _check_usable(item, "item", item.name, where)
    quantity = _decimal(line.quantity, f"{where}: quantity")
    if quantity <= 0:
        _fail(f"{where}: quantity must be greater than zero (got {plain_decimal(quantity)})")
    if line.unit_price is not None:
        unit_price, source = _decimal(line.unit_price, f"{where}: price"), "order"
        if unit_price < 0:
            _fail(f"{where}: price must not be negative (got {plain_decimal(unit_price)})")
        # by value: the database pads what it reads to its scale, so written zeros cannot be told here
        if unit_price != to_unit_price(unit_price):
            _fail(f"{where}: price {plain_decimal(unit_price)} has more than {UNIT_PRICE_PLACES} decimals")
        unit_price = to_unit_price(unit_price)
    else:
        try:
            quote = catalog.prices.quote(customer.id, item, order.ordered_at)
        except PricingError as error:
            _fail(f"{where}: {error}")
        unit_price, source = quote.unit_price, quote.source
    amount = line_amount(quantity, unit_price)
    if amount > MAX_AMOUNT:
        _fail(
            f"{where}: amount {plain_decimal(amount)} ({plain_decimal(quantity)} × {plain_decimal(unit_price)}) is "
            f"larger than {plain_decimal(MAX_AMOUNT)}, the most an invoice line can carry here"
        )
    return DraftLine(
        item=item,
        quantity=plain_decimal(quantity),
        unit_price=unit_price,
        amount=amount,
        price_source=source,
        description=line.description,
    )


def _resolve(by_id: dict, by_name: dict, row_id, name, kind: str, fix: tuple[str, str], where: str | None = None):
    """The row an order names. `fix`: the order number and the `orders edit` option that would correct it."""
    prefix = f"{where}: " if where else ""
    if row_id is not None:
        row = by_id.get(row_id)
        if row is None:
            _fail(f"{prefix}{kind} #{row_id} does not exist")
        return row
    if not name:
        _fail(f"{prefix}no {kind} given")
    matches = by_name.get(name_key(name), [])
    if not matches:
        number, option = fix
        _fail(
            f"{prefix}{kind} {name!r} is not in the {kind} list: {UNKNOWN_NAME} (the order goes again by itself "
            f"once a sync brings it in, or at once with `qb-pipeline orders retry {number}`), or correct the "
            f"order: `qb-pipeline orders edit {number} {option}`"
        )
    if len(matches) > 1:
        _fail(f"{prefix}{kind} name {name!r} matches {len(matches)} {kind}s: the order must name one by id")
    return matches[0]


def _check_usable(row, kind: str, name: str, where: str | None = None) -> None:
    prefix = f"{where}: " if where else ""
    if not row.active:
        _block(f"{prefix}{kind} {name!r} is inactive in QuickBooks: make it active again to invoice it")
    if row.sync_state == SyncState.FAILED and row.qb_id is None:
        _block(f"{prefix}{kind} {name!r} could not be created in QuickBooks: {row.last_error or 'unknown error'}")


def _decimal(value, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        _fail(f"{what} {str(value)!r} is not a number")
    if not number.is_finite():
        _fail(f"{what} {str(value)!r} is not a number")
    if abs(number) >= MAX_FACTOR:
        _fail(f"{what} {str(value)!r} is too large (at most {plain_decimal(MAX_FACTOR - 1)}): check the order")
    return number


def _fail(reason: str):
    raise OrderRejected(OrderStatus.FAILED, reason)


def _block(reason: str):
    raise OrderRejected(OrderStatus.BLOCKED, reason)

"""Prices learned from QuickBooks: what each customer was last invoiced per item.

A company that set special prices by hand in QuickBooks has them only on its invoices. This reads the
invoice mirror and suggests, as rows of the pricing CSV format (source=learned), every customer/item
whose last invoiced unit price differs from the price that was in force on that invoice's date — so a
deliberate change since then is not undone — and from the price in force now. Lines at 0.00 (free replacements) and items invoiced at two
prices on one invoice teach nothing and are skipped. Suggestions are never applied: a person reviews
the file and imports it (`qb-pipeline pricing import`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import Customer, Item, QBInvoice
from qb_pipeline.db.types import to_unit_price, utcnow
from qb_pipeline.sync.price_book import PriceBook, PricingError
from qb_pipeline.sync.pricing_csv import COLUMNS


@dataclass(frozen=True)
class LearnedPrice:
    customer: str
    item: str
    invoiced_price: Decimal
    price_then: Decimal | None  # what we would have charged on the invoice's date
    invoice_doc_number: str | None
    invoice_date: str | None = None


def learned_prices(session: Session, realm_id: str) -> list[LearnedPrice]:
    customers = {c.qb_id: c for c in session.scalars(sa.select(Customer).where(Customer.qb_id.is_not(None)))}
    items = {i.qb_id: i for i in session.scalars(sa.select(Item).where(Item.qb_id.is_not(None)))}
    last: dict[tuple[str, str], tuple[Decimal, str | None, str | None]] = {}
    invoices = session.scalars(
        sa.select(QBInvoice)
        .where(QBInvoice.realm_id == realm_id, QBInvoice.status.in_(["open", "paid"]))
        .order_by(QBInvoice.txn_date, QBInvoice.qb_updated_at, QBInvoice.id)
    )
    for invoice in invoices:  # oldest first: later invoices overwrite
        prices: dict[str, set[Decimal]] = {}
        for line in invoice.lines or []:
            try:
                price = to_unit_price(Decimal(line.get("unit_price") or ""))
            except InvalidOperation:
                continue
            if line.get("item_qb_id") and price > 0:
                prices.setdefault(line["item_qb_id"], set()).add(price)
        for item_qb_id, seen in prices.items():
            if len(seen) == 1:  # two prices for one item on one invoice: no single price to learn
                last[(invoice.customer_qb_id, item_qb_id)] = (seen.pop(), invoice.doc_number, invoice.txn_date)
    # not mirrored yet (customer or item unknown here): the next customers/items sync brings them
    learned = [
        (customers[c], items[i], *seen) for (c, i), seen in sorted(last.items()) if c in customers and i in items
    ]
    book = PriceBook(session, {c.id for c, *_ in learned}, {i.id for _, i, *_ in learned})  # one read for all
    suggestions = []
    for customer, item, price, doc_number, txn_date in learned:
        then, now = _price(book, customer, item, _end_of(txn_date)), _price(book, customer, item, utcnow())
        if then != price and now != price:  # a special price then, and not ours already
            suggestions.append(LearnedPrice(customer.display_name, item.name, price, then, doc_number, txn_date))
    return suggestions


def _price(book: PriceBook, customer: Customer, item: Item, at: datetime) -> Decimal | None:
    try:
        return book.quote(customer.id, item, at).unit_price
    except PricingError:
        return None


def _end_of(txn_date: str | None) -> datetime:
    """The last instant of an invoice's date: the price in force when that day's orders were priced."""
    if not txn_date:
        return utcnow()
    return datetime.combine(date.fromisoformat(txn_date), time.max, tzinfo=timezone.utc)


def as_pricing_csv(suggestions: list[LearnedPrice]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in suggestions:
        writer.writerow(
            {
                "kind": "customer_price",
                "customer": s.customer,
                "item": s.item,
                "price": s.invoiced_price,
                "source": "learned",
            }
        )
    return out.getvalue()

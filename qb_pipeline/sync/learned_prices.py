"""Prices learned from QuickBooks: what each customer was last invoiced per item.

A company that set special prices by hand in QuickBooks has them only on its invoices. This reads the
invoice mirror and suggests, as rows of the pricing CSV format (source=learned), every customer/item
whose last invoiced unit price differs from the price that was in force at that invoice's time — so a
deliberate change since then is not undone — and from the price in force now. Lines at 0.00 (free replacements) and items invoiced at two
prices on one invoice teach nothing and are skipped. Suggestions are never applied: a person reviews
the file and imports it (`qb-pipeline pricing import`).

Only invoices typed in QuickBooks teach: ours carry our marker in PrivateNote (or are linked to an
order), and a one-off price typed on an order must not come back as a standing customer price.

An invoice's time: QuickBooks gives a date (TxnDate, the company's calendar) and the instant it was
created (MetaData.CreateTime). When the creation falls on the invoice's date in the company's zone, that
instant is when the price was set; an invoice dated another day (back- or forward-dated) is priced at
the last instant of its date in that zone, the price that day's last orders got.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.company_zone import DEFAULT_ZONE
from qb_pipeline.db.models import Customer, Item, Order, QBInvoice
from qb_pipeline.db.types import to_unit_price, utcnow
from qb_pipeline.sync.price_book import PriceBook, PricingError
from qb_pipeline.sync.pricing_csv import COLUMNS


@dataclass(frozen=True)
class LearnedPrice:
    customer: str
    item: str
    invoiced_price: Decimal
    price_then: Decimal | None  # what we would have charged at the invoice's time
    invoice_doc_number: str | None
    invoice_date: str | None = None


def _linked(model, realm_id: str) -> sa.ColumnElement[bool]:
    """The company's rows that have a QuickBooks Id (Ids repeat across companies)."""
    return sa.and_(model.realm_id == realm_id, model.qb_id.is_not(None))


def learned_prices(session: Session, realm_id: str, zone: tzinfo | None = None) -> list[LearnedPrice]:
    """`zone`: the company's time zone (QB_COMPANY_TIMEZONE), where invoice dates are calendar dates."""
    zone = zone or ZoneInfo(DEFAULT_ZONE)
    customers = {c.qb_id: c for c in session.scalars(sa.select(Customer).where(_linked(Customer, realm_id)))}
    items = {i.qb_id: i for i in session.scalars(sa.select(Item).where(_linked(Item, realm_id)))}
    last: dict[tuple[str, str], tuple[Decimal, str | None, str | None, datetime]] = {}
    ours = sa.select(Order.qb_invoice_id).where(Order.realm_id == realm_id, Order.qb_invoice_id.is_not(None))
    invoices = session.scalars(
        sa.select(QBInvoice).where(
            QBInvoice.realm_id == realm_id,
            QBInvoice.status.in_(["open", "paid"]),
            QBInvoice.marked_order.is_(None),
            QBInvoice.qb_id.not_in(ours),
        )
    )
    dated = sorted(((_invoice_time(invoice, zone), invoice.id), invoice) for invoice in invoices)
    for (at, _id), invoice in dated:  # oldest first: later invoices overwrite
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
                last[(invoice.customer_qb_id, item_qb_id)] = (seen.pop(), invoice.doc_number, invoice.txn_date, at)
    # not mirrored yet (customer or item unknown here): the next customers/items sync brings them
    learned = [
        (customers[c], items[i], *seen) for (c, i), seen in sorted(last.items()) if c in customers and i in items
    ]
    book = PriceBook(session, {c.id for c, *_ in learned}, {i.id for _, i, *_ in learned})  # one read for all
    suggestions = []
    for customer, item, price, doc_number, txn_date, at in learned:
        then, now = _price(book, customer, item, at), _price(book, customer, item, utcnow())
        if then != price and now != price:  # a special price then, and not ours already
            suggestions.append(LearnedPrice(customer.display_name, item.name, price, then, doc_number, txn_date))
    return suggestions


def _price(book: PriceBook, customer: Customer, item: Item, at: datetime) -> Decimal | None:
    try:
        return book.quote(customer.id, item, at).unit_price
    except PricingError:
        return None


def _invoice_time(invoice: QBInvoice, zone: tzinfo) -> datetime:
    """When the invoice's price was set (module docstring): its creation when that falls on its date in
    the company's zone, else the last instant of its date there."""
    created = invoice.qb_created_at
    if not invoice.txn_date:
        return created or utcnow()
    day = date.fromisoformat(invoice.txn_date)
    if created is not None and created.astimezone(zone).date() == day:
        return created
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(timezone.utc)


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

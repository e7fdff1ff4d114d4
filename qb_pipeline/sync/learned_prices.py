"""Prices learned from QuickBooks: what each customer was last invoiced per item.

A company that set special prices by hand in QuickBooks has them only on its invoices. This reads the
invoice mirror and suggests, as rows of the pricing CSV format, every customer/item whose last
invoiced unit price differs from the price we would use today. Suggestions are never applied: a person
reviews the file and imports it (`qb-pipeline pricing import`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import Customer, Item, QBInvoice
from qb_pipeline.db.types import CENT, utcnow
from qb_pipeline.sync.pricing import PricingError, effective_price
from qb_pipeline.sync.pricing_csv import COLUMNS


@dataclass(frozen=True)
class LearnedPrice:
    customer: str
    item: str
    invoiced_price: Decimal
    current_price: Decimal | None
    invoice_doc_number: str | None


def learned_prices(session: Session, realm_id: str) -> list[LearnedPrice]:
    customers = {c.qb_id: c for c in session.scalars(sa.select(Customer).where(Customer.qb_id.is_not(None)))}
    items = {i.qb_id: i for i in session.scalars(sa.select(Item).where(Item.qb_id.is_not(None)))}
    last: dict[tuple[str, str], tuple[Decimal, str | None]] = {}
    invoices = session.scalars(
        sa.select(QBInvoice).where(QBInvoice.realm_id == realm_id, QBInvoice.status.in_(["open", "paid"]))
        .order_by(QBInvoice.txn_date, QBInvoice.qb_updated_at, QBInvoice.id))
    for invoice in invoices:  # oldest first: later invoices overwrite
        for line in invoice.lines or []:
            try:
                price = Decimal(line.get("unit_price") or "").quantize(CENT)
            except InvalidOperation:
                continue
            if line.get("item_qb_id"):
                last[(invoice.customer_qb_id, line["item_qb_id"])] = (price, invoice.doc_number)
    suggestions = []
    now = utcnow()
    for (customer_qb_id, item_qb_id), (price, doc_number) in sorted(last.items()):
        customer, item = customers.get(customer_qb_id), items.get(item_qb_id)
        if customer is None or item is None:
            continue  # not mirrored yet: the next customers/items sync brings them
        try:
            current = effective_price(session, customer.id, item, now).unit_price
        except PricingError:
            current = None
        if current != price:
            suggestions.append(LearnedPrice(customer.display_name, item.name, price, current, doc_number))
    return suggestions


def as_pricing_csv(suggestions: list[LearnedPrice]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in suggestions:
        writer.writerow({"kind": "customer_price", "customer": s.customer, "item": s.item, "price": s.invoiced_price})
    return out.getvalue()

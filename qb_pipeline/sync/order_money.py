"""What an order's invoice says of its money, from the mirror: its balance as QuickBooks keeps it, where it
stands (paid, partly paid, open, voided, deleted) and the date it was paid on (the last payment that
brought the balance to 0).

The balance is QuickBooks' own Balance of the invoice, never a sum of our payments: a payment in a currency
not the company's, or one naming an invoice we do not hold, cannot make it wrong."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import Order, QBInvoice
from qb_pipeline.db.receivables import QBPayment, QBPaymentLine
from qb_pipeline.sync.payment_checks import LIVE

STATES = ("paid", "partly paid", "open", "voided", "deleted", "not mirrored yet")


@dataclass(frozen=True)
class OrderMoney:
    state: str  # one of STATES, or "not mirrored yet" (sent, its invoice not read back yet)
    total: Decimal | None = None
    balance: Decimal | None = None
    paid_on: str | None = None  # YYYY-MM-DD, QuickBooks' TxnDate of the payment that paid it off

    def as_dict(self) -> dict[str, str | None]:
        return {
            "invoice_state": self.state,
            "invoice_total": None if self.total is None else str(self.total),
            "invoice_balance": None if self.balance is None else str(self.balance),
            "paid_on": self.paid_on,
        }


# Where an order's invoice stands, as SQL over orders outer-joined to their mirrored invoice: the one rule for
# `orders show`, `orders list --unpaid` and the `orders` asset's counts.
INVOICE_STATE = sa.case(
    (Order.qb_invoice_state.in_(["voided", "deleted"]), Order.qb_invoice_state),  # flagged by the mirror
    (QBInvoice.id.is_(None), "not mirrored yet"),
    (QBInvoice.status.in_(["voided", "deleted"]), QBInvoice.status),
    (QBInvoice.balance <= 0, "paid"),
    (QBInvoice.balance < QBInvoice.total_amt, "partly paid"),
    else_="open",
)
UNPAID = ("open", "partly paid")


def _with_invoices(*columns) -> sa.Select:
    # An invoice Id means something only in its company: the order's.
    return sa.select(*columns).outerjoin(
        QBInvoice, sa.and_(QBInvoice.realm_id == Order.realm_id, QBInvoice.qb_id == Order.qb_invoice_id)
    )


def money_of_orders(session: Session, orders: Sequence[Order]) -> dict[int, OrderMoney]:
    """Order id → its invoice's money, for the orders sent to QuickBooks (two queries for any number)."""
    ids = [order.id for order in orders if order.qb_invoice_id]
    if not ids:
        return {}
    invoice = (Order.realm_id, Order.qb_invoice_id)
    rows = session.execute(
        _with_invoices(Order.id, *invoice, INVOICE_STATE, QBInvoice.total_amt, QBInvoice.balance).where(
            Order.id.in_(ids)
        )
    ).all()
    paid_on = _paid_on(session, [(realm, qb_id) for _id, realm, qb_id, state, *_ in rows if state == "paid"])
    return {
        order_id: OrderMoney(state, total, balance, paid_on.get((realm, qb_id)) if state == "paid" else None)
        for order_id, realm, qb_id, state, total, balance in rows
    }


def _paid_on(session: Session, invoices: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(company, invoice qb_id) → the latest TxnDate among the payments (not voided or deleted) applying to it."""
    if not invoices:
        return {}
    invoice_ids = [qb_id for _realm, qb_id in invoices]
    rows = session.execute(
        sa.select(QBPaymentLine.realm_id, QBPaymentLine.linked_qb_id, sa.func.max(QBPayment.txn_date))
        .join(
            QBPayment,
            sa.and_(QBPayment.realm_id == QBPaymentLine.realm_id, QBPayment.qb_id == QBPaymentLine.payment_qb_id),
        )
        .where(
            QBPaymentLine.kind == "Invoice",
            QBPaymentLine.linked_qb_id.in_(list(invoice_ids)),
            QBPaymentLine.amount > 0,
            QBPayment.status.in_(LIVE),
        )
        .group_by(QBPaymentLine.realm_id, QBPaymentLine.linked_qb_id)
    ).all()
    return {(realm, qb_id): date for realm, qb_id, date in rows if date}


def unpaid_orders(session: Session, *, since: datetime | None = None, limit: int = 200) -> list[Order]:
    """Orders whose invoice still has a balance to pay (open or partly paid), newest first."""
    query = (
        _with_invoices(Order)
        .where(Order.qb_invoice_id.is_not(None), INVOICE_STATE.in_(UNPAID))
        .order_by(Order.created_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Order.created_at >= since)
    return list(session.scalars(query))


def money_counts(session: Session) -> dict[str, int | float]:
    """Every sent order by where its invoice stands, and what those still open owe (for the `orders`
    asset's page: the UI plots floats)."""
    state = INVOICE_STATE.label("state")
    rows = session.execute(
        _with_invoices(state, sa.func.count(), sa.func.coalesce(sa.func.sum(QBInvoice.balance), 0))
        .where(Order.qb_invoice_id.is_not(None))
        .group_by(state)
    ).all()
    counts = {**dict.fromkeys(STATES, 0), **{state: n for state, n, _owed in rows}}
    owed = sum((Decimal(str(owed)) for state, _n, owed in rows if state in UNPAID), Decimal("0"))
    return {
        **{f"invoices_{state.replace(' ', '_')}": int(n) for state, n in counts.items()},
        "owed_on_orders": float(owed),
    }

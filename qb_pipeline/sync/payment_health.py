"""The payments part of sync health, with pandas from the payment mirror: per day what came in and how many
invoices it paid, and how long invoices take to be paid (invoice date → payment date, in days).

Only live payments count (voided and deleted ones are kept in the mirror but paid nothing), and only those in
the company's currency (`set_apart` says why another currency is left out of every sum). Days are QuickBooks'
transaction dates (the company's calendar), as the reports use them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import QBInvoice
from qb_pipeline.db.receivables import QBPayment, QBPaymentLine

LIVE = ("open", "applied")  # a payment's statuses that moved money (voided/deleted did not)


@dataclass
class Payments:
    by_day: pd.DataFrame  # day, payments, received, invoices_paid, median_days_to_pay
    count: int  # live payments dated in the period
    received: Decimal  # their total, in the company's currency
    median_days_to_pay: float  # over every invoice a payment in the period applied to; 0.0 when none


def payments_since(session: Session, since: datetime) -> Payments:
    first_day = since.date().isoformat()
    payments = _payments(session, first_day)
    applied = _applications(session, first_day)
    by_day = _by_day(payments, applied)
    return Payments(
        by_day=by_day,
        count=int(len(payments)),
        received=sum((Decimal(str(amount)) for amount in payments["amount"]), Decimal("0.00")),
        median_days_to_pay=float(applied["days_to_pay"].median()) if len(applied) else 0.0,
    )


def _live_since(first_day: str):
    return (
        QBPayment.status.in_(LIVE),
        QBPayment.set_apart.is_(None),
        QBPayment.txn_date >= first_day,
    )


def _payments(session: Session, first_day: str) -> pd.DataFrame:
    rows = session.execute(sa.select(QBPayment.txn_date, QBPayment.total_amt).where(*_live_since(first_day))).all()
    return pd.DataFrame(rows, columns=["day", "amount"])


def _applications(session: Session, first_day: str) -> pd.DataFrame:
    """One row per invoice a live payment of the period paid (some of): payment day, days from the invoice."""
    rows = session.execute(
        sa.select(QBPayment.txn_date, QBInvoice.txn_date)
        .join(
            QBPaymentLine,
            sa.and_(QBPaymentLine.realm_id == QBPayment.realm_id, QBPaymentLine.payment_qb_id == QBPayment.qb_id),
        )
        .join(
            QBInvoice,
            sa.and_(QBInvoice.realm_id == QBPaymentLine.realm_id, QBInvoice.qb_id == QBPaymentLine.linked_qb_id),
        )
        .where(*_live_since(first_day), QBPaymentLine.kind == "Invoice", QBInvoice.txn_date.is_not(None))
    ).all()
    applied = pd.DataFrame(rows, columns=["day", "invoice_day"])
    applied["days_to_pay"] = [_days(invoice_day, day) for day, invoice_day in rows]
    return applied


def _days(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _by_day(payments: pd.DataFrame, applied: pd.DataFrame) -> pd.DataFrame:
    received = payments.groupby("day").agg(payments=("amount", "size"), received=("amount", _money_sum))
    paid = applied.groupby("day").agg(
        invoices_paid=("days_to_pay", "size"), median_days_to_pay=("days_to_pay", "median")
    )
    table = received.join(paid, how="left").fillna({"invoices_paid": 0}).reset_index()
    return table.astype({"payments": int, "invoices_paid": int}).sort_values("day", ascending=False)


def _money_sum(amounts: pd.Series) -> float:
    # summed as Decimal, shown as a float (a markdown table of the UI)
    return float(sum((Decimal(str(amount)) for amount in amounts), Decimal("0.00")))

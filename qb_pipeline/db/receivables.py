"""The receivables QuickBooks keeps and we mirror: payments, what each applies to which invoice or credit
memo (from its lines' LinkedTxn), and credit memos. Kept per company (realm_id + qb_id, as qb_invoices),
voided and deleted ones included; plain columns, read by the reports as well as by the orders' money."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from qb_pipeline.db.models import Base
from qb_pipeline.db.types import MONEY, UTCDateTime, utcnow


class _Mirrored:
    """What every mirrored receivable carries: its company and Id, customer, date, amounts' currency,
    where it stands, its QuickBooks version, and why it is set apart (None: nothing to say)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str] = mapped_column(sa.String(32))
    qb_id: Mapped[str] = mapped_column(sa.String(32))
    customer_qb_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    txn_date: Mapped[str | None] = mapped_column(sa.String(10))  # QBO's calendar date, YYYY-MM-DD
    total_amt: Mapped[Decimal | None] = mapped_column(MONEY)
    # CurrencyRef's code; None: QuickBooks sent none, so the company's own (no multicurrency)
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    # Why its amounts are kept out of the sums (a currency not the company's), in a person's words.
    set_apart: Mapped[str | None] = mapped_column(sa.Text)
    qb_sync_token: Mapped[str | None] = mapped_column(sa.String(32))
    qb_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mirrored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class QBPayment(_Mirrored, Base):
    """A QuickBooks payment. status: open (some of it not applied yet), applied, voided, deleted."""

    __tablename__ = "qb_payments"
    __table_args__ = (sa.UniqueConstraint("realm_id", "qb_id", name="uq_qb_payments_realm_qb_id"),)

    unapplied_amt: Mapped[Decimal | None] = mapped_column(MONEY)


class QBPaymentLine(Base):
    """What one payment line applies: `amount` to invoice or credit memo `linked_qb_id` (`kind`). Kept
    whether we hold that invoice or not; replaced whenever its payment changes."""

    __tablename__ = "qb_payment_lines"
    __table_args__ = (sa.Index("ix_qb_payment_lines_realm_linked", "realm_id", "kind", "linked_qb_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str] = mapped_column(sa.String(32))
    payment_qb_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    line_number: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))  # "Invoice" or "CreditMemo" (LinkedTxn.TxnType)
    linked_qb_id: Mapped[str] = mapped_column(sa.String(32))
    amount: Mapped[Decimal] = mapped_column(MONEY)


class QBCreditMemo(_Mirrored, Base):
    """A QuickBooks credit memo. status: open (credit left to apply), applied, voided, deleted."""

    __tablename__ = "qb_credit_memos"
    __table_args__ = (sa.UniqueConstraint("realm_id", "qb_id", name="uq_qb_credit_memos_realm_qb_id"),)

    doc_number: Mapped[str | None] = mapped_column(sa.String(21))
    remaining_credit: Mapped[Decimal | None] = mapped_column(MONEY)
    balance: Mapped[Decimal | None] = mapped_column(MONEY)

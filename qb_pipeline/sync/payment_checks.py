"""What the mirrored payments apply that we cannot follow to an invoice or credit memo we hold: one not
mirrored (yet, or never: made and deleted between two pulls), or one deleted in QuickBooks while paid.
The application is kept either way; these findings say so in the run log and the asset's metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import QBInvoice
from qb_pipeline.db.receivables import QBCreditMemo, QBPayment, QBPaymentLine
from qb_pipeline.sync.wording import plural

LIVE = ("open", "applied")  # a voided or deleted payment applies nothing
SHOWN = 5  # applications named in a sentence; the counts say how many in all


@dataclass
class PaymentFindings:
    # "payment 12: 10.00 to Invoice 45", one per application
    not_held: list[str] = field(default_factory=list)
    to_deleted: list[str] = field(default_factory=list)
    not_held_amount: Decimal = Decimal("0")
    to_deleted_amount: Decimal = Decimal("0")

    def sentences(self) -> list[str]:
        told = []
        if self.not_held:
            told.append(
                f"{plural(len(self.not_held), 'payment application')} to records not mirrored here, kept: "
                + ", ".join(self.not_held[:SHOWN])
            )
        if self.to_deleted:
            told.append(
                f"{plural(len(self.to_deleted), 'payment application')} to invoices deleted in QuickBooks: "
                + ", ".join(self.to_deleted[:SHOWN])
            )
        return told

    def as_metadata(self) -> dict[str, int | float]:
        return {
            "applied_to_records_not_mirrored": len(self.not_held),
            "applied_to_records_not_mirrored_amount": float(self.not_held_amount),
            "applied_to_deleted_invoices": len(self.to_deleted),
            "applied_to_deleted_invoices_amount": float(self.to_deleted_amount),
        }


def payment_findings(session: Session, realm_id: str) -> PaymentFindings:
    findings = PaymentFindings()
    for model, kind in ((QBInvoice, "Invoice"), (QBCreditMemo, "CreditMemo")):
        rows = session.execute(
            sa.select(QBPaymentLine.payment_qb_id, QBPaymentLine.linked_qb_id, QBPaymentLine.amount, model.status)
            .join(
                QBPayment,
                sa.and_(QBPayment.realm_id == QBPaymentLine.realm_id, QBPayment.qb_id == QBPaymentLine.payment_qb_id),
            )
            .outerjoin(
                model, sa.and_(model.realm_id == QBPaymentLine.realm_id, model.qb_id == QBPaymentLine.linked_qb_id)
            )
            .where(
                QBPaymentLine.realm_id == realm_id,
                QBPaymentLine.kind == kind,
                QBPaymentLine.amount != 0,
                QBPayment.status.in_(LIVE),
                sa.or_(model.id.is_(None), model.status == "deleted"),
            )
            .order_by(QBPaymentLine.payment_qb_id, QBPaymentLine.line_number)
        ).all()
        for payment, linked, amount, status in rows:
            said = f"payment {payment}: {amount} to {kind} {linked}"
            if status is None:
                findings.not_held.append(said)
                findings.not_held_amount += amount
            else:
                findings.to_deleted.append(said)
                findings.to_deleted_amount += amount
    return findings


def sum_open(session: Session, model, realm_id: str) -> tuple[int, Decimal]:
    """How many payments (credit memos) are open, and what they leave to apply: the unapplied amounts (the
    credit left) in the company's currency; one in another currency is counted, its amount left out."""
    left = QBPayment.unapplied_amt if model is QBPayment else QBCreditMemo.remaining_credit
    count, amount = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(left).filter(model.set_apart.is_(None)), 0)).where(
            model.realm_id == realm_id, model.status == "open"
        )
    ).one()
    return int(count), Decimal(str(amount))

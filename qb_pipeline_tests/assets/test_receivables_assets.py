"""`payments` and `credit_memos` materialized with real Dagster against the sandbox, on both databases: every
payment and credit memo mirrored with what it applies, voids and deletes included, by CDC after the first run
and by paging every record when CDC cannot answer."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment

from qb_pipeline.assets.receivables import payments
from qb_pipeline.db.models import SyncCursor
from qb_pipeline.db.receivables import QBCreditMemo, QBPayment, QBPaymentLine
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.quickbooks_objects import pay
from qb_pipeline_tests.fixtures.receivables import MIRROR, rocks
from qb_pipeline_tests.sandbox.receivables import apply_credit, credit_memo


def applications(engine) -> list[tuple[str, str, str, Decimal]]:
    """(payment Id, kind, linked Id, amount) of every mirrored payment line."""
    with session_scope(engine) as session:
        rows = session.execute(
            sa.select(
                QBPaymentLine.payment_qb_id, QBPaymentLine.kind, QBPaymentLine.linked_qb_id, QBPaymentLine.amount
            ).order_by(QBPaymentLine.payment_qb_id, QBPaymentLine.line_number)
        ).all()
    return [tuple(row) for row in rows]


def statuses(engine, model) -> dict[str, tuple]:
    """qb_id → (status, total, what is left to apply: a payment's unapplied amount, a memo's credit)."""
    left = "unapplied_amt" if model is QBPayment else "remaining_credit"
    with session_scope(engine) as session:
        return {row.qb_id: (row.status, row.total_amt, getattr(row, left)) for row in session.scalars(sa.select(model))}


def test_payments_and_credit_memos_are_mirrored_with_the_invoices_each_pays(two_invoices, resources, sandbox):
    engine, qb, cool_cars, first, second = two_invoices
    partial = pay(qb, cool_cars, first, "10.00")
    whole = pay(qb, cool_cars, second, "29.85", total="35.00")  # 5.15 left unapplied
    memo = credit_memo(qb, cool_cars, rocks(qb), "4.00")
    result = materialize_company(MIRROR, resources=resources)
    assert metadata_of(result, "payments")["pull_mode"] == "full"
    assert metadata_of(result, "payments")["new_from_quickbooks"] == 2
    assert applications(engine) == [
        (partial.Id, "Invoice", first.Id, Decimal("10.00")),
        (whole.Id, "Invoice", second.Id, Decimal("29.85")),
    ]
    assert statuses(engine, QBPayment) == {
        partial.Id: ("applied", Decimal("10.00"), Decimal("0.00")),
        whole.Id: ("open", Decimal("35.00"), Decimal("5.15")),
    }
    assert statuses(engine, QBCreditMemo) == {memo.Id: ("open", Decimal("4.00"), Decimal("4.00"))}
    assert metadata_of(result, "payments")["open_amount"] == 5.15
    assert metadata_of(result, "credit_memos")["open_amount"] == 4.0


def test_voids_deletes_and_applied_credit_come_by_cdc(two_invoices, resources, sandbox):
    engine, qb, cool_cars, first, second = two_invoices
    partial = pay(qb, cool_cars, first, "10.00")
    whole = pay(qb, cool_cars, second, "29.85")
    memo = credit_memo(qb, cool_cars, rocks(qb), "4.00")
    assert materialize_company(MIRROR, resources=resources).success
    Payment.get(partial.Id, qb=qb).void(qb=qb)
    Payment.get(whole.Id, qb=qb).delete(qb=qb)
    applied = apply_credit(qb, cool_cars, Invoice.get(first.Id, qb=qb), memo, "4.00")  # memo's credit to RCV-1
    result = materialize_company(MIRROR, resources=resources)
    meta = metadata_of(result, "payments")
    assert (meta["pull_mode"], meta["voided"], meta["deleted"]) == ("cdc", 1, 1)
    assert statuses(engine, QBPayment)[partial.Id][0] == "voided"
    assert statuses(engine, QBPayment)[whole.Id][0] == "deleted"  # kept, marked
    assert (applied.Id, "CreditMemo", memo.Id, Decimal("4.00")) in applications(engine)
    assert statuses(engine, QBCreditMemo)[memo.Id] == ("applied", Decimal("4.00"), Decimal("0.00"))


def test_a_payment_deleted_while_cdc_cannot_answer_is_found_by_paging(two_invoices, resources, sandbox):
    engine, qb, cool_cars, first, _second = two_invoices
    doomed = pay(qb, cool_cars, first, "10.00")
    kept = pay(qb, cool_cars, first, "9.90")
    assert materialize_company([payments], resources=resources).success
    Payment.get(doomed.Id, qb=qb).delete(qb=qb)
    with session_scope(engine) as session:  # a cursor older than CDC's 30 days: the mirror must page
        session.execute(sa.update(SyncCursor).values(covered_until=utcnow() - timedelta(days=40)))
    meta = metadata_of(materialize_company([payments], resources=resources), "payments")
    assert (meta["pull_mode"], meta["deleted"]) == ("query", 1)
    assert {qb_id: row[0] for qb_id, row in statuses(engine, QBPayment).items()} == {
        doomed.Id: "deleted",
        kept.Id: "applied",
    }

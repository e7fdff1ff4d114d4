"""Payments that do not add up the usual way, each mirrored or refused with a reason, nothing lost: one naming
an invoice we do not hold, one larger than the balance, one in a currency not the company's."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Ref
from quickbooks.objects.payment import Payment

from qb_pipeline.assets.receivables import payments
from qb_pipeline.db.models import SyncLog
from qb_pipeline.db.receivables import QBPayment, QBPaymentLine
from qb_pipeline.db.session import session_scope
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.quickbooks_objects import make_invoice, pay
from qb_pipeline_tests.fixtures.receivables import MIRROR, rocks


def logged(engine, entity: str) -> str:
    """The newest activity-log message of `entity`."""
    with session_scope(engine) as session:
        return session.scalars(
            sa.select(SyncLog.message).where(SyncLog.entity == entity).order_by(SyncLog.id.desc())
        ).first()


def test_a_payment_of_an_invoice_we_do_not_hold_keeps_its_application_and_says_so(two_invoices, resources):
    engine, qb, cool_cars, _first, _second = two_invoices
    elsewhere = make_invoice(qb, cool_cars, rocks(qb), qty="1", price="12.00", doc_number="QB-9")  # not mirrored yet
    payment = pay(qb, cool_cars, elsewhere, "12.00")
    meta = metadata_of(materialize_company([payments], resources=resources), "payments")
    assert (meta["applied_to_records_not_mirrored"], meta["applied_to_records_not_mirrored_amount"]) == (1, 12.0)
    assert f"payment {payment.Id}: 12.00 to Invoice {elsewhere.Id}" in logged(engine, "PAYMENTS")
    with session_scope(engine) as session:
        kept = session.execute(sa.select(QBPaymentLine.linked_qb_id, QBPaymentLine.amount)).all()
    assert kept == [(elsewhere.Id, Decimal("12.00"))]
    meta = metadata_of(materialize_company(MIRROR, resources=resources), "payments")  # the invoice comes in
    assert meta["applied_to_records_not_mirrored"] == 0


def test_a_payment_larger_than_the_balance_is_refused_by_quickbooks_or_kept_unapplied(two_invoices, resources):
    engine, qb, cool_cars, first, _second = two_invoices
    with pytest.raises(QuickbooksException) as refused:  # a line may not pay more than the invoice's balance
        pay(qb, cool_cars, first, "25.00")
    assert "19.90" in str(refused.value.detail)
    overpaid = pay(qb, cool_cars, first, "19.90", total="25.00")  # the rest stays the customer's credit
    meta = metadata_of(materialize_company(MIRROR, resources=resources), "payments")
    with session_scope(engine) as session:
        held = session.execute(sa.select(QBPayment.qb_id, QBPayment.status, QBPayment.unapplied_amt)).all()
    assert held == [(overpaid.Id, "open", Decimal("5.10"))]  # what QuickBooks holds, nothing of the refusal
    assert meta["open_amount"] == 5.1


def test_a_payment_in_another_currency_is_kept_with_its_reason_and_out_of_the_sums(two_invoices, resources):
    engine, qb, cool_cars, _first, _second = two_invoices
    euros = Payment()  # received, not applied yet: 50 EUR of credit
    euros.CustomerRef, euros.TotalAmt = cool_cars.to_ref(), Decimal("50.00")
    euros.CurrencyRef = Ref()
    euros.CurrencyRef.value = "EUR"
    euros = euros.save(qb=qb)
    dollars = Payment()
    dollars.CustomerRef, dollars.TotalAmt = cool_cars.to_ref(), Decimal("5.00")
    dollars = dollars.save(qb=qb)
    meta = metadata_of(materialize_company(MIRROR, resources=resources), "payments")
    assert (meta["other_currency"], meta["open"], meta["open_amount"]) == (1, 2, 5.0)
    with session_scope(engine) as session:
        rows = {p.qb_id: (p.currency, p.total_amt, p.set_apart) for p in session.scalars(sa.select(QBPayment))}
    assert rows[dollars.Id] == (None, Decimal("5.00"), None)
    assert rows[euros.Id][:2] == ("EUR", Decimal("50.00"))
    assert rows[euros.Id][2] == "in EUR, not the company's USD: kept out of the sums"
    assert f"payment {euros.Id} is in EUR, not the company's USD" in logged(engine, "PAYMENTS")

"""Payments through python-quickbooks: applied to invoices, their balances, CDC, void and delete."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment

from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_invoice, make_item, pay


def balance(qb, invoice) -> Decimal:
    return Decimal(str(Invoice.get(invoice.Id, qb=qb).Balance))


@pytest.fixture
def paid_in_two(sandbox):
    """An invoice of 20.00 paid 15.00, then 7.00 of which 5.00 applied: (qb, customer, invoice, first payment,
    second payment, when it began)."""
    qb = sandbox.qb_client()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    customer, item = make_customer(qb, "Payer"), make_item(qb, "Thing")
    invoice = make_invoice(qb, customer, item, qty="2", price="10.00")  # 20.00
    first = pay(qb, customer, invoice, "15.00")
    second = pay(qb, customer, invoice, "5.00", total="7.00")  # 2.00 left unapplied
    return qb, customer, invoice, first, second, since


def test_a_payment_lowers_the_invoice_balance_by_what_it_pays(sandbox):
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Payer"), make_item(qb, "Thing")
    invoice = make_invoice(qb, customer, item, qty="2", price="10.00")  # 20.00
    pay(qb, customer, invoice, "15.00")
    assert balance(qb, invoice) == Decimal("5.00")


def test_a_payment_of_more_than_the_balance_clears_it_and_keeps_the_rest_unapplied(paid_in_two):
    qb, _customer, invoice, _first, second, _since = paid_in_two
    assert balance(qb, invoice) == 0 and Decimal(str(second.UnappliedAmt)) == Decimal("2.00")
    assert len(Payment.all(qb=qb)) == 2


def test_payments_and_the_invoice_they_paid_show_in_cdc(paid_in_two):
    qb, _customer, _invoice, first, second, since = paid_in_two
    answer = qb.change_data_capture("Invoice,Payment", since.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    groups = {
        name: rows
        for group in answer["CDCResponse"][0]["QueryResponse"]
        for name, rows in group.items()
        if isinstance(rows, list)
    }
    assert {p["Id"] for p in groups["Payment"]} == {first.Id, second.Id}
    assert [Decimal(str(i["Balance"])) for i in groups["Invoice"]] == [0]


def test_a_payment_of_more_than_the_open_balance_is_refused(paid_in_two):
    qb, customer, invoice, _first, _second, _since = paid_in_two
    with pytest.raises(QuickbooksException) as caught:
        pay(qb, customer, invoice, "0.01")
    assert caught.value.error_code == 6000


def test_voiding_or_deleting_a_payment_gives_the_invoice_its_balance_back(paid_in_two, sandbox):
    qb, _customer, invoice, first, second, _since = paid_in_two
    Payment.get(second.Id, qb=qb).void(qb=qb)
    assert balance(qb, invoice) == Decimal("5.00")
    Payment.get(first.Id, qb=qb).delete(qb=qb)
    assert balance(qb, invoice) == Decimal("20.00")
    assert [p["Id"] for p in sandbox.dump("Payment")["deleted"]] == [first.Id]


def test_a_payment_cannot_pay_another_customers_invoice(sandbox):
    qb = sandbox.qb_client()
    item = make_item(qb, "Thing")
    owner, other = make_customer(qb, "Owner"), make_customer(qb, "Other")
    invoice = make_invoice(qb, owner, item)
    with pytest.raises(QuickbooksException) as caught:
        pay(qb, other, invoice, "1.00")
    assert caught.value.error_code == 6000
    assert balance(qb, invoice) == Decimal("20.00")


def test_latency_costs_a_base_per_call_plus_a_cost_per_row(sandbox):
    sandbox.seed(customers=400)
    qb = sandbox.qb_client()
    sandbox.settings(latency_ms=50, latency_per_row_ms=1)
    started = time.monotonic()
    qb.query("SELECT * FROM Customer MAXRESULTS 1")
    one_row = time.monotonic() - started
    started = time.monotonic()
    qb.query("SELECT * FROM Customer MAXRESULTS 400")
    many_rows = time.monotonic() - started
    assert one_row >= 0.05 and many_rows >= 0.45  # 50 ms + 400 × 1 ms
    assert sandbox.control("GET", "settings")["latency_per_row_ms"] == 1

"""Orders know their money: once its invoice is in QuickBooks, an order shows the invoice's balance, whether it
is paid (and on which date), partly paid, open, voided or deleted, in `orders show`, `orders list --unpaid` and
on the `orders` asset's page. An invoice deleted in QuickBooks while paid is flagged, reported, and its order
never invoiced again."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa
from quickbooks.objects.invoice import Invoice

from qb_pipeline.assets.invoices import invoices
from qb_pipeline.db.models import Order
from qb_pipeline.db.receivables import QBPaymentLine
from qb_pipeline.db.session import session_scope
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.quickbooks_objects import pay
from qb_pipeline_tests.fixtures.receivables import MIRROR
from qb_pipeline_tests.sandbox.receivables import dated_payment


def shown(run, number: str) -> dict:
    return json.loads(run("orders", "show", number, "--json").stdout)


def orders_observed(result: dg.ExecuteInProcessResult) -> dict:
    (observation,) = [o for o in result.asset_observations_for_node("invoices") if o.asset_key.path == ["orders"]]
    return {name: value.value for name, value in observation.metadata.items()}


def test_an_order_shows_its_invoice_paid_on_the_last_payments_date_or_what_is_left(
    two_invoices, resources, run_on_database
):
    _engine, qb, cool_cars, first, second = two_invoices
    dated_payment(qb, cool_cars, first, "10.00", "2026-11-15")
    dated_payment(qb, cool_cars, Invoice.get(first.Id, qb=qb), "9.90", "2026-11-20")  # pays RCV-1 off
    dated_payment(qb, cool_cars, second, "10.00", "2026-11-21")
    result = materialize_company(MIRROR, resources=resources)
    paid = shown(run_on_database, "RCV-1")
    assert (paid["invoice_state"], paid["invoice_balance"], paid["paid_on"]) == ("paid", "0.00", "2026-11-20")
    partly = run_on_database("orders", "show", "RCV-2").stdout
    assert "invoice: partly paid: 19.85 of 29.85 to pay" in partly
    unpaid = json.loads(run_on_database("orders", "list", "--unpaid", "--json").stdout)
    assert [(o["order_number"], o["invoice_balance"]) for o in unpaid] == [("RCV-2", "19.85")]
    assert "RCV-1" not in run_on_database("orders", "list", "--unpaid").stdout
    observed = orders_observed(result)
    assert (observed["invoices_paid"], observed["invoices_partly_paid"], observed["invoices_open"]) == (1, 1, 0)
    assert observed["owed_on_orders"] == 19.85


def test_an_invoice_deleted_in_quickbooks_while_paid_is_flagged_kept_and_never_invoiced_again(
    two_invoices, resources, sandbox, run_on_database
):
    engine, qb, cool_cars, first, _second = two_invoices
    payment = pay(qb, cool_cars, first, "19.90")
    assert materialize_company(MIRROR, resources=resources).success
    assert shown(run_on_database, "RCV-1")["invoice_state"] == "paid"
    Invoice.get(first.Id, qb=qb).delete(qb=qb)
    result = materialize_company(MIRROR, resources=resources)
    meta = metadata_of(result, "payments")
    assert (meta["applied_to_deleted_invoices"], meta["applied_to_deleted_invoices_amount"]) == (1, 19.9)
    with session_scope(engine) as session:  # the application is kept, naming the deleted invoice
        kept = session.execute(sa.select(QBPaymentLine.linked_qb_id, QBPaymentLine.amount)).all()
        order = session.scalars(sa.select(Order).where(Order.order_number == "RCV-1")).one()
        assert (order.status.value, order.qb_invoice_state) == ("synced", "deleted")
    assert kept == [(first.Id, Decimal("19.90"))]
    assert orders_observed(result)["invoices_deleted"] == 1
    assert "deleted in QuickBooks" in run_on_database("orders", "show", "RCV-1").stdout
    assert "RCV-1" not in run_on_database("orders", "list", "--unpaid").stdout
    assert payment.Id in {p["Id"] for p in sandbox.dump("Payment")["records"]}
    again = materialize_company([invoices], resources=resources)
    assert metadata_of(again, "invoices")["pushed"] == 0
    assert sorted(r["DocNumber"] for r in sandbox.dump("Invoice")["records"]) == ["RCV-2"]  # not invoiced again
    refused = run_on_database("orders", "retry", "RCV-1", check=False)
    assert refused.returncode == 1 and "not failed or blocked" in refused.stderr

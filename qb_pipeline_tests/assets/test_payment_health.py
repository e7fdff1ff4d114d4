"""`sync_health` shows the money that came in: payments made in the sandbox through python-quickbooks at
chosen dates, mirrored by the real `payments` asset, then `sync_health` materialized with real Dagster. The
expected figures are the test's own arithmetic on what it made, not the code's."""

from __future__ import annotations

from quickbooks.objects.payment import Payment

from qb_pipeline.assets.health import sync_health
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.receivables import credit_memos, payments
from qb_pipeline_tests.assets.test_report_assets import day
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_item
from qb_pipeline_tests.sandbox.receivables import dated_invoice, dated_payment


def test_sync_health_counts_the_live_payments_of_the_last_30_days_and_the_days_they_took(sandbox, resources):
    qb = sandbox.qb_client()
    ada, bob = make_customer(qb, "Ada Lovelace"), make_customer(qb, "Bob Babbage")
    work = make_item(qb, "Work")
    dated_payment(qb, ada, dated_invoice(qb, ada, work, "100.00", day(-20), day(-5), "P-1"), "100.00", day(-2))
    dated_payment(qb, bob, dated_invoice(qb, bob, work, "40.00", day(-6), day(24), "P-2"), "15.00", day(0))
    old = dated_invoice(qb, bob, work, "30.00", day(-70), day(-40), "P-3")
    dated_payment(qb, bob, old, "30.00", day(-35))  # before the 30 days
    voided = dated_payment(qb, ada, dated_invoice(qb, ada, work, "7.00", day(-1), day(29), "P-4"), "7.00", day(0))
    Payment.get(voided.Id, qb=qb).void(qb=qb)  # mirrored, but it moved no money

    assert materialize_company([customers, items, invoices, payments, credit_memos], resources=resources).success
    health = metadata_of(materialize_company([sync_health], resources=resources), "sync_health")

    assert health["payments_30d"] == 2
    assert health["received_30d"] == 115.0
    assert health["median_days_to_pay_30d"] == 12.0  # P-1 took 18 days, P-2 6
    by_day = health["payments_by_day"]
    assert day(-2) in by_day and day(0) in by_day and day(-35) not in by_day


def test_with_no_payment_yet_sync_health_says_so(sandbox, resources):
    health = metadata_of(materialize_company([sync_health], resources=resources), "sync_health")
    assert (health["payments_30d"], health["received_30d"], health["median_days_to_pay_30d"]) == (0, 0.0, 0.0)
    assert health["payments_by_day"] == "no data yet"

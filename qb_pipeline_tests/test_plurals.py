"""A count next to a noun reads as English: "1 order", "2 orders" (issue #19, item 9)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import dagster as dg

from qb_pipeline.checks import invoice_totals_reconcile, orders_not_waiting
from qb_pipeline.db.models import OrderStatus, QBInvoice
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sync.invoice_mirror import MirrorResult
from qb_pipeline.sync.invoice_outcomes import InvoicePushResult
from qb_pipeline.sync.order_actions import going_again, sent_again
from qb_pipeline_tests.fixtures.orders import named_order


def test_run_summaries_say_one_thing_in_the_singular():
    assert InvoicePushResult(pushed=1).summary() == "Synced 1 new invoice"
    assert InvoicePushResult(pushed=2, failed=1).summary() == "Synced 2 new invoices, 1 failed"
    assert MirrorResult(mode="cdc", updated=1, flagged_orders=1).summary() == (
        "mirrored 1 invoice (cdc), 1 order flagged voided/deleted"
    )
    assert MirrorResult(mode="full", updated=3).summary() == "mirrored 3 invoices (full)"


def test_a_retry_says_how_many_orders_go_again():
    assert going_again(["SO-1"]) == "1 order goes again: SO-1"
    assert going_again([]) == "0 orders go again"
    many = [f"SO-{n}" for n in range(25)]
    assert going_again(many, limit=2) == "25 orders go again: SO-0, SO-1, …"
    assert sent_again(["SO-1"]) == "Sent 1 failed or blocked order again (a person asked)"
    assert sent_again(many) == "Sent 25 failed or blocked orders again (a person asked)"


def test_checks_count_one_order_and_one_invoice_in_the_singular(database_url, engine):
    with session_scope(engine) as session:
        session.add_all(
            [
                named_order("LATE", "Acme", "Widget:1", created_at=utcnow() - timedelta(hours=2)),
                named_order(
                    "DONE",
                    "Acme",
                    "Widget:1",
                    status=OrderStatus.SYNCED,
                    realm_id="42",
                    qb_invoice_id="77",
                    invoiced_total=Decimal("5.00"),
                ),
                QBInvoice(realm_id="42", qb_id="77", doc_number="DONE", total_amt=Decimal("5.00")),
            ]
        )
    database = DatabaseResource(url=database_url)
    assert orders_not_waiting(dg.build_asset_check_context(), database=database).description.startswith(
        "1 order waiting over "
    )
    assert (
        invoice_totals_reconcile(dg.build_asset_check_context(), database=database).description
        == "1 invoice matches its order"
    )

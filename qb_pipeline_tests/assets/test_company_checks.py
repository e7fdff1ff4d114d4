"""The checks of one company's partition judge that company's orders, invoices and customers (and orders naming no
company yet, which every company's checks show): another company's failed order, waiting order, duplicated
DocNumber or customer never sent to QuickBooks never turns them red. Rows written by plain SQL models, as the order-entry app and a sync write them."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from qb_pipeline.assets.constants import companies
from qb_pipeline.checks import INVOICE_CHECKS, LINK_CHECKS, invoice_checks
from qb_pipeline.db.models import Customer, Order, OrderStatus, QBInvoice
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.jobs import add_company
from qb_pipeline.resources import DatabaseResource

TROUBLED, CALM = "9130357992221046", "9130357993221049"


@pytest.fixture
def troubled_company(engine):
    """Company TROUBLED has a failed order, an order waiting an hour, two invoices numbered 1001 and a customer
    added two hours ago that is not in QuickBooks yet; company CALM has one synced order, its own invoice 1001
    and a customer linked to QuickBooks."""
    an_hour_ago = utcnow() - timedelta(hours=1)
    with session_scope(engine) as session:
        session.add_all(
            [
                Order(realm_id=TROUBLED, order_number="T-1", status=OrderStatus.FAILED, status_reason="no price"),
                Order(realm_id=TROUBLED, order_number="T-2", status=OrderStatus.PENDING, created_at=an_hour_ago),
                Order(realm_id=CALM, order_number="C-1", status=OrderStatus.SYNCED),
                Customer(realm_id=TROUBLED, display_name="Not Sent Yet", created_at=utcnow() - timedelta(hours=2)),
                Customer(realm_id=CALM, display_name="Linked Ltd", qb_id="58"),
                *(
                    QBInvoice(realm_id=realm, qb_id=qb_id, doc_number="1001", status="open")
                    for realm, qb_id in ((TROUBLED, "1"), (TROUBLED, "2"), (CALM, "1"))
                ),
            ]
        )


@dg.multi_asset(specs=[dg.AssetSpec(key) for key in ("invoices", "customers")], partitions_def=companies)
def stand_in():
    """The keys the checks are on, with nothing to do: they read only the database; this run is a partition's."""
    yield dg.MaterializeResult(asset_key="invoices")
    yield dg.MaterializeResult(asset_key="customers")


def evaluate(database_url: str, realm: str) -> dict[str, bool]:
    """The invoices and customers checks run for company `realm`'s partition, as a run of it evaluates them."""
    with dg.instance_for_test() as instance:
        add_company(instance, realm)
        result = dg.materialize(
            [stand_in, invoice_checks, LINK_CHECKS["Customer"]],
            resources={"database": DatabaseResource(url=database_url)},
            instance=instance,
            partition_key=realm,
        )
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.mark.usefixtures("troubled_company")
def test_one_company_s_failed_waiting_and_duplicated_never_turn_another_s_checks_red(database_url):
    every_check = {"no_failed_orders", "orders_not_waiting", "unique_doc_numbers", "customers_linked"}

    calm, troubled = evaluate(database_url, CALM), evaluate(database_url, TROUBLED)

    assert calm == dict.fromkeys([*every_check, "invoice_totals_reconcile"], True)  # no invoiced order to check
    assert {name: troubled[name] for name in every_check} == dict.fromkeys(every_check, False)


def test_an_order_naming_no_company_shows_in_every_company_s_checks(engine, database_url):
    with session_scope(engine) as session:
        session.add(Order(realm_id=None, order_number="X-1", status=OrderStatus.FAILED, status_reason="no company"))

    assert not evaluate(database_url, CALM)["no_failed_orders"]
    assert not evaluate(database_url, TROUBLED)["no_failed_orders"]


@pytest.mark.usefixtures("troubled_company")
def test_a_check_that_cannot_run_leaves_the_others_reporting(database_url, monkeypatch):
    """One invoice check raising (a bug, the database gone mid-check) never hides the others' verdicts: they
    ran as four steps once, and now run as one."""

    def broken(_context, _database):
        raise RuntimeError("re-pricing went wrong")

    monkeypatch.setitem(INVOICE_CHECKS, "invoice_totals_reconcile", broken)
    with dg.instance_for_test() as instance:
        add_company(instance, TROUBLED)
        result = dg.materialize(
            [stand_in, invoice_checks],
            resources={"database": DatabaseResource(url=database_url)},
            instance=instance,
            partition_key=TROUBLED,
            raise_on_error=False,
        )
    verdicts = {e.check_name: e for e in result.get_asset_check_evaluations()}

    assert not result.success  # the step fails, as the broken check's own step did
    assert "re-pricing went wrong" in verdicts["invoice_totals_reconcile"].description
    assert not verdicts["invoice_totals_reconcile"].passed
    assert {
        name: verdicts[name].passed for name in ("no_failed_orders", "orders_not_waiting", "unique_doc_numbers")
    } == {
        "no_failed_orders": False,
        "orders_not_waiting": False,
        "unique_doc_numbers": False,
    }

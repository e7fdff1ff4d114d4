"""The README's "fixing a failed order" under `make dev`, as a person does it: an order names a customer
QuickBooks does not have and fails saying what to do; the customer is added on the sandbox's QuickBooks
screens in headless Chromium; `orders retry`; the order is invoiced, counted from the sandbox's dump."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import Order
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.sync.invoice_draft import marked_order
from qb_pipeline_tests.browser import Browser, chromium
from qb_pipeline_tests.fixtures.dev_stack import ARTIFACTS, cli_on
from qb_pipeline_tests.helpers import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (make test installs it with apt-get)"),
]


def test_a_customer_added_on_the_quickbooks_screens_lets_a_failed_order_through(stack):
    screens = f"{stack.sandbox.url}/screens"
    assert f"QuickBooks screens (add customers and items, see invoices) on {screens}" in stack.output(20_000)
    added = cli_on(stack, "orders", "add", "--customer", "Nova Bakery", "--line", "Rocks:2", "--number", "FIX-E2E")
    assert added.returncode == 0, added.stderr
    engine = make_engine(stack.database_url)

    def order() -> tuple[str, str | None]:
        with session_scope(engine) as session:
            found = session.scalars(sa.select(Order).where(Order.order_number == "FIX-E2E")).one()
            return found.status.value, found.status_reason

    wait_for(lambda: order()[0] == "failed", timeout=120, what="the order to fail", interval=0.5)
    reason = order()[1]
    assert "customer 'Nova Bakery' is not in the customer list: add it in QuickBooks" in reason
    assert "`qb-pipeline orders retry FIX-E2E`" in reason

    ARTIFACTS.mkdir(exist_ok=True)
    with Browser() as browser:
        browser.open(f"{stack.sandbox.url}/")
        assert "Sign in with the sandbox's control token" in browser.text()
        browser.fill("#token", stack.sandbox.connection["control_token"])
        browser.press("#sign-in button")
        assert "Customers (" in browser.text() and "Nova Bakery" not in browser.text()
        browser.fill("#add-customer [name=DisplayName]", "Nova Bakery")
        browser.press("#add-customer button")
        assert "Customer Nova Bakery added" in browser.text()

        retried = cli_on(stack, "orders", "retry", "FIX-E2E")
        assert retried.returncode == 0 and "1 order goes again: FIX-E2E" in retried.stdout, retried.stderr

        def invoices() -> list[dict]:
            records = stack.sandbox.control("GET", "dump/Invoice", timeout=10)["records"]
            return [r for r in records if marked_order(r) == "FIX-E2E"]

        wait_for(lambda: invoices(), timeout=120, what="the order's invoice in QuickBooks", interval=0.5)
        (invoice,) = invoices()
        assert invoice["CustomerRef"]["name"] == "Nova Bakery" and invoice["TotalAmt"] == 2 * 9.95
        assert order() == ("synced", None)
        browser.open(screens)  # and the screens show it
        assert "FIX-E2E" in browser.text()
        browser.screenshot(ARTIFACTS / "quickbooks-screens.png")

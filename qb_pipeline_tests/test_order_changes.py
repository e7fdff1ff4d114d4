"""`qb-pipeline orders edit` and `orders cancel` as a person runs them, against a real database (SQLite and
PostgreSQL) and the real sandbox; what reached QuickBooks is counted from the sandbox's own dump."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from qb_pipeline.cli import main
from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.order_edits import NewLine, edit_order
from qb_pipeline.sync.pull import pull_name_list


@pytest.fixture
def shop(sandbox, make_gateway, engine):
    """The demo company in QuickBooks, mirrored here: Cool Cars, Rocks (9.95), Sod (4.75)…"""
    sandbox.seed(preset="demo")
    gateway = make_gateway()
    pull_name_list(gateway, engine, "Customer")
    pull_name_list(gateway, engine, "Item")
    return gateway


@pytest.fixture
def cli(sandbox, database_url, tmp_path):
    env = {
        "QB_DATA_DIR": str(tmp_path / "data"),
        "QB_DATABASE_URL": database_url,
        "QB_ENVIRONMENT": "sandbox-local",
        "QB_SANDBOX_CONNECTION_FILE": str(sandbox.fresh_connection_file(tmp_path)),
        "DAGSTER_HOME": None,
    }

    def run(*args: str, ok: bool = True):
        result = CliRunner().invoke(main, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert (result.exit_code == 0) == ok, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
        return result

    return run


def order_row(engine, number: str) -> tuple[str, str | None, str | None, list[tuple[str, Decimal]]]:
    with session_scope(engine) as session:
        order = session.scalars(sa.select(Order).where(Order.order_number == number)).one()
        lines = [(line.item_name, Decimal(line.quantity)) for line in order.lines]
        return order.status.value, order.customer_name, order.status_reason, lines


def invoices_of(sandbox, number: str) -> list[dict]:
    return [r for r in sandbox.dump("Invoice")["records"] if r.get("DocNumber") == number]


def test_a_failed_order_is_corrected_sent_and_then_no_longer_edited(cli, shop, sandbox, engine):
    cli("orders", "add", "--customer", "Cool Carz", "--line", "Rocks:2", "--number", "FIX-1")
    push_orders(shop, engine, "run-1")
    status, _customer, reason, _lines = order_row(engine, "FIX-1")
    # the reason says how to get out of it, with this order's number
    assert status == "failed" and "customer 'Cool Carz' is not in the customer list: add it in QuickBooks" in reason
    assert "`qb-pipeline orders retry FIX-1`" in reason and "`qb-pipeline orders edit FIX-1 --customer NAME`" in reason

    edited = cli("orders", "edit", "FIX-1", "--customer", "Cool Cars", "--line", "Rocks:3", "--line", "Sod:1:5.00")
    said = (
        "Order FIX-1 edited (a person asked): customer 'Cool Carz' → 'Cool Cars'; "
        "lines 'Rocks' × 2 → 'Rocks' × 3, 'Sod' × 1 @ 5; failed → pending"
    )
    assert edited.stdout.strip() == said
    assert order_row(engine, "FIX-1") == ("pending", "Cool Cars", None, [("Rocks", 3), ("Sod", 1)])
    assert said in cli("log", "--since", "1h", "--entity", "orders").stdout

    push_orders(shop, engine, "run-2")
    (invoice,) = invoices_of(sandbox, "FIX-1")
    assert invoice["CustomerRef"]["name"] == "Cool Cars" and Decimal(str(invoice["TotalAmt"])) == Decimal("34.85")

    refused = cli("orders", "edit", "FIX-1", "--line", "Rocks:1", ok=False)
    assert refused.stderr == (
        f"Error: order FIX-1 cannot be edited: it is already invoiced in QuickBooks (invoice {invoice['Id']}); "
        "change or void the invoice in QuickBooks instead\n"
    )
    assert (
        "cannot be cancelled: it is already invoiced"
        in cli("orders", "cancel", "FIX-1", "--reason", "x", ok=False).stderr
    )
    assert order_row(engine, "FIX-1")[0::3] == ("synced", [("Rocks", 3), ("Sod", 1)])
    assert invoices_of(sandbox, "FIX-1") == [invoice]  # QuickBooks untouched


def test_an_order_a_run_is_sending_or_may_have_sent_is_not_changed(cli, shop, engine):
    cli("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "BUSY-1")
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "run-busy")  # a run holds it
    refused = cli("orders", "edit", "BUSY-1", "--line", "Rocks:9", ok=False)
    assert "cannot be edited: a run is sending it to QuickBooks right now" in refused.stderr
    assert (
        "cannot be cancelled: a run is sending it"
        in cli("orders", "cancel", "BUSY-1", "--reason", "x", ok=False).stderr
    )
    with session_scope(engine) as session:  # the run's send went unanswered; it gave the order back
        queries.mark_unanswered(session, [session.scalar(sa.select(Order.id))], at=utcnow(), preferences_version="1")
        queries.release_claims(session, "run-busy")
    refused = cli("orders", "edit", "BUSY-1", "--line", "Rocks:9", ok=False)
    assert "an earlier send of it went unanswered, so it may be in QuickBooks already" in refused.stderr
    assert order_row(engine, "BUSY-1")[3] == [("Rocks", 1)]


def test_cancelled_orders_are_never_sent_and_no_longer_fail_the_check(cli, shop, sandbox, engine, database_url):
    from quickbooks.objects.customer import Customer as QBCustomer

    from qb_pipeline.checks import no_failed_orders
    from qb_pipeline.resources import DatabaseResource

    for number in ("GONE-1", "GONE-2"):
        cli("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", number)
    push_orders(shop, engine, "run-1")

    def check():
        return no_failed_orders(database=DatabaseResource(url=database_url))

    assert not check().passed and "2 orders failed" in check().description
    said = cli("orders", "cancel", "GONE-1", "--reason", "customer changed their mind").stdout
    assert said.startswith("Order GONE-1 cancelled (a person asked): customer changed their mind; it was failed (")
    assert not check().passed and "1 order failed" in check().description
    cli("orders", "cancel", "GONE-2", "--reason", "duplicate of GONE-1")
    assert check().passed

    shown = json.loads(cli("orders", "show", "GONE-1", "--json").stdout)
    assert (shown["status"], shown["reason"]) == ("cancelled", "cancelled: customer changed their mind")
    listed = json.loads(cli("orders", "list", "--status", "cancelled", "--json").stdout)
    assert sorted(o["order_number"] for o in listed) == ["GONE-1", "GONE-2"]
    assert "Order GONE-2 cancelled (a person asked): duplicate of GONE-1" in cli("log", "--since", "1h").stdout
    assert "cannot be edited: it is cancelled" in cli("orders", "edit", "GONE-1", "--line", "Rocks:2", ok=False).stderr
    assert cli("orders", "retry", "GONE-1", ok=False).exit_code == 1

    # the customer appears in QuickBooks and comes in with a sync: a failed order would go again, these do not
    customer = QBCustomer()
    customer.DisplayName = "Nobody Yet"
    customer.save(qb=sandbox.qb_client())
    pull_name_list(shop, engine, "Customer")
    push_orders(shop, engine, "run-2")
    assert sandbox.dump("Invoice")["records"] == []
    assert [order_row(engine, n)[0] for n in ("GONE-1", "GONE-2")] == ["cancelled", "cancelled"]


def test_a_claim_right_after_the_edit_looked_at_the_order_never_sends_the_old_order(cli, engine):
    """A run claims at the worst moment: right after the edit's first statement (its check that the order
    may change). The edit holds the order from that statement on, so the claim skips it (PostgreSQL) or
    waits for the edit (SQLite); whichever way, no run drafts the lines the edit replaced."""
    cli("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "RACE-1")
    claimed_lines: list = []

    def claim_and_read() -> None:
        with session_scope(engine) as session:
            won = queries.claim_orders(session, "run-race")
        if won:
            with session_scope(engine) as session:
                claimed_lines.extend(Decimal(line.quantity) for line in session.get(Order, won[0]).lines)

    claimer = threading.Thread(target=claim_and_read)

    def claim_after_the_check(_conn, _cursor, statement: str, *_args) -> None:
        if not claimer.is_alive() and not claimer.ident and " orders" in statement.split("WHERE")[0]:
            claimer.start()
            claimer.join(1.5)  # PostgreSQL: done by then; SQLite: waiting for the write lock

    with session_scope(engine) as session:
        sa.event.listen(session.connection(), "after_cursor_execute", claim_after_the_check)
        edit_order(session, "RACE-1", lines=[NewLine("Rocks", Decimal(5))])
    claimer.join(30)
    assert claimer.ident and not claimer.is_alive()
    if not claimed_lines:  # it skipped the order: the next claim takes it, edited
        claim_and_read()
    assert claimed_lines == [Decimal(5)]
    assert order_row(engine, "RACE-1")[0] == OrderStatus.PUSHING.value


def test_an_order_failed_with_the_earlier_wording_still_goes_again_once_its_customer_is_known(cli, shop, engine):
    from qb_pipeline.sync.order_actions import revive_orders_naming_known_records

    cli("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "OLD-1")
    with session_scope(engine) as session:  # as a version before this wording left it
        order = session.scalars(sa.select(Order)).one()
        order.status = OrderStatus.FAILED
        order.status_reason = "customer 'Cool Cars' is not in the customer list: add it, or correct the order"
    with session_scope(engine) as session:
        assert revive_orders_naming_known_records(session) == ["OLD-1"]

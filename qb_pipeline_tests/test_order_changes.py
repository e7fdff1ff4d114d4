"""`qb-pipeline orders edit` and `orders cancel` as a person runs them, against a real database (SQLite and
PostgreSQL) and the real sandbox; what reached QuickBooks is counted from the sandbox's own dump."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.checks import no_failed_orders
from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sandbox.server import DEFAULT_REALM as REALM
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.order_actions import revive_orders_naming_known_records
from qb_pipeline.sync.order_edits import NewLine, edit_order
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer


def refused(run, *args: str) -> str:
    """What a command that must be refused said: its one error, no traceback."""
    result = run(*args, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    return result.stderr


def order_row(engine, number: str) -> tuple[str, str | None, str | None, list[tuple[str, Decimal]]]:
    with session_scope(engine) as session:
        order = session.scalars(sa.select(Order).where(Order.order_number == number)).one()
        lines = [(line.item_name, Decimal(line.quantity)) for line in order.lines]
        return order.status.value, order.customer_name, order.status_reason, lines


def invoices_of(sandbox, number: str) -> list[dict]:
    return [r for r in sandbox.dump("Invoice")["records"] if r.get("DocNumber") == number]


@pytest.fixture
def fix_1_failed(run_on_database, demo_company, engine):
    """Order FIX-1 for 'Cool Carz' (a customer QuickBooks does not have), failed by a push."""
    run_on_database("orders", "add", "--customer", "Cool Carz", "--line", "Rocks:2", "--number", "FIX-1")
    push_orders(demo_company, engine, "run-1")


EDITED = (
    "Order FIX-1 edited (a person asked): customer 'Cool Carz' → 'Cool Cars'; "
    "lines 'Rocks' × 2 → 'Rocks' × 3, 'Sod' × 1 @ 5; failed → pending"
)


def edit_fix_1(run_on_database):
    return run_on_database(
        "orders", "edit", "FIX-1", "--customer", "Cool Cars", "--line", "Rocks:3", "--line", "Sod:1:5.00"
    )


def test_a_failed_orders_reason_says_how_to_get_it_through(fix_1_failed, engine):
    status, _customer, reason, _lines = order_row(engine, "FIX-1")
    # the reason says how to get out of it, with this order's number
    assert status == "failed" and "customer 'Cool Carz' is not in the customer list: add it in QuickBooks" in reason
    assert "`qb-pipeline orders retry FIX-1`" in reason and "`qb-pipeline orders edit FIX-1 --customer NAME`" in reason


def test_an_edit_replaces_the_customer_and_lines_puts_the_order_back_and_is_logged(
    fix_1_failed, run_on_database, engine
):
    assert edit_fix_1(run_on_database).stdout.strip() == EDITED
    assert order_row(engine, "FIX-1") == ("pending", "Cool Cars", None, [("Rocks", 3), ("Sod", 1)])
    assert EDITED in run_on_database("log", "--since", "1h", "--entity", "orders").stdout


@pytest.fixture
def fix_1_invoiced(fix_1_failed, run_on_database, demo_company, engine, sandbox) -> dict:
    """FIX-1 corrected and pushed again: its invoice in QuickBooks."""
    edit_fix_1(run_on_database)
    push_orders(demo_company, engine, "run-2")
    (invoice,) = invoices_of(sandbox, "FIX-1")
    return invoice


def test_an_edited_order_is_invoiced_as_edited(fix_1_invoiced):
    assert fix_1_invoiced["CustomerRef"]["name"] == "Cool Cars"
    assert Decimal(str(fix_1_invoiced["TotalAmt"])) == Decimal("34.85")


def test_an_invoiced_order_is_neither_edited_nor_cancelled(fix_1_invoiced, run_on_database, engine, sandbox):
    assert refused(run_on_database, "orders", "edit", "FIX-1", "--line", "Rocks:1") == (
        f"Error: order FIX-1 cannot be edited: it is already invoiced in QuickBooks (invoice {fix_1_invoiced['Id']}); "
        "change or void the invoice in QuickBooks instead\n"
    )
    assert "cannot be cancelled: it is already invoiced" in refused(
        run_on_database, "orders", "cancel", "FIX-1", "--reason", "x"
    )
    assert order_row(engine, "FIX-1")[0::3] == ("synced", [("Rocks", 3), ("Sod", 1)])
    assert invoices_of(sandbox, "FIX-1") == [fix_1_invoiced]  # QuickBooks untouched


@pytest.fixture
def busy_1_claimed(run_on_database, demo_company, engine):
    """Order BUSY-1, claimed by a run that is sending it."""
    run_on_database(
        "orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "BUSY-1", "--company", REALM
    )
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "run-busy", realm_id=REALM)


def test_an_order_a_run_is_sending_is_neither_edited_nor_cancelled(busy_1_claimed, run_on_database, engine):
    edit = refused(run_on_database, "orders", "edit", "BUSY-1", "--line", "Rocks:9")
    assert "cannot be edited: a run is sending it to QuickBooks right now" in edit
    assert "cannot be cancelled: a run is sending it" in refused(
        run_on_database, "orders", "cancel", "BUSY-1", "--reason", "x"
    )
    assert order_row(engine, "BUSY-1")[3] == [("Rocks", 1)]


def test_an_order_whose_send_went_unanswered_is_not_edited(busy_1_claimed, run_on_database, engine):
    with session_scope(engine) as session:  # the run's send went unanswered; it gave the order back
        queries.mark_unanswered(session, [session.scalar(sa.select(Order.id))], at=utcnow(), preferences_version="1")
        queries.release_claims(session, "run-busy")
    edit = refused(run_on_database, "orders", "edit", "BUSY-1", "--line", "Rocks:9")
    assert "an earlier send of it went unanswered, so it may be in QuickBooks already" in edit
    assert order_row(engine, "BUSY-1")[3] == [("Rocks", 1)]


@pytest.fixture
def gone_failed(run_on_database, demo_company, engine):
    """Orders GONE-1 and GONE-2 for 'Nobody Yet' (not in QuickBooks), failed by a push."""
    for number in ("GONE-1", "GONE-2"):
        run_on_database("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", number)
    push_orders(demo_company, engine, "run-1")


@pytest.fixture
def gone_cancelled(gone_failed, run_on_database):
    """GONE-1 and GONE-2 cancelled by a person."""
    run_on_database("orders", "cancel", "GONE-1", "--reason", "customer changed their mind")
    run_on_database("orders", "cancel", "GONE-2", "--reason", "duplicate of GONE-1")


def test_cancelling_failed_orders_clears_the_failed_orders_check_one_by_one(gone_failed, run_on_database, database_url):
    def check():
        return no_failed_orders(dg.build_asset_check_context(), database=DatabaseResource(url=database_url))

    assert not check().passed and "2 orders failed" in check().description
    said = run_on_database("orders", "cancel", "GONE-1", "--reason", "customer changed their mind").stdout
    assert said.startswith("Order GONE-1 cancelled (a person asked): customer changed their mind; it was failed (")
    assert not check().passed and "1 order failed" in check().description
    run_on_database("orders", "cancel", "GONE-2", "--reason", "duplicate of GONE-1")
    assert check().passed


def test_a_cancelled_order_is_shown_and_listed_as_cancelled_and_logged(gone_cancelled, run_on_database):
    shown = json.loads(run_on_database("orders", "show", "GONE-1", "--json").stdout)
    assert (shown["status"], shown["reason"]) == ("cancelled", "cancelled: customer changed their mind")
    listed = json.loads(run_on_database("orders", "list", "--status", "cancelled", "--json").stdout)
    assert sorted(o["order_number"] for o in listed) == ["GONE-1", "GONE-2"]
    log = run_on_database("log", "--since", "1h").stdout
    assert "Order GONE-2 cancelled (a person asked): duplicate of GONE-1" in log


def test_a_cancelled_order_is_neither_edited_nor_retried(gone_cancelled, run_on_database):
    assert "cannot be edited: it is cancelled" in refused(
        run_on_database, "orders", "edit", "GONE-1", "--line", "Rocks:2"
    )
    assert run_on_database("orders", "retry", "GONE-1", check=False).returncode == 1


def test_a_cancelled_order_is_not_sent_when_its_customer_appears(gone_cancelled, demo_company, engine, sandbox):
    # the customer appears in QuickBooks and comes in with a sync: a failed order would go again, these do not
    make_customer(sandbox.qb_client(), "Nobody Yet")
    pull_name_list(demo_company, engine, "Customer")
    push_orders(demo_company, engine, "run-2")
    assert sandbox.dump("Invoice")["records"] == []
    assert [order_row(engine, n)[0] for n in ("GONE-1", "GONE-2")] == ["cancelled", "cancelled"]


def test_a_claim_right_after_the_edit_looked_at_the_order_never_sends_the_old_order(run_on_database, engine):
    """A run claims at the worst moment: right after the edit's first statement (its check that the order
    may change). The edit holds the order from that statement on, so the claim skips it (PostgreSQL) or
    waits for the edit (SQLite); whichever way, no run drafts the lines the edit replaced."""
    run_on_database(
        "orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "RACE-1", "--company", REALM
    )
    claimed_lines: list = []

    def claim_and_read() -> None:
        with session_scope(engine) as session:
            won = queries.claim_orders(session, "run-race", realm_id=REALM)
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


def test_an_order_failed_with_the_earlier_wording_still_goes_again_once_its_customer_is_known(
    run_on_database, demo_company, engine
):
    run_on_database("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "OLD-1")
    with session_scope(engine) as session:  # as a version before this wording left it
        order = session.scalars(sa.select(Order)).one()
        order.status = OrderStatus.FAILED
        order.status_reason = "customer 'Cool Cars' is not in the customer list: add it, or correct the order"
    with session_scope(engine) as session:
        assert revive_orders_naming_known_records(session) == ["OLD-1"]

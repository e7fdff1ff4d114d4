"""Orders → invoices against the sandbox: correct to the cent, at most once, nothing lost."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.core.errors import QuickBooksAuthError
from qb_pipeline.core.tokens import StoredTokens
from qb_pipeline.db.models import Customer, Item, Order, OrderLine, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_cipher import new_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_draft import draft_invoice
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline_tests.fixtures.orders import (
    add_orders,
    build_shop,
    hand_computed_totals,
    invoices_by_doc_number,
    push_killed_mid_batch,
)


def statuses(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {s.value: n for s, n in session.execute(sa.select(Order.status, sa.func.count()).group_by(Order.status))}


def assert_each_order_has_exactly_one_correct_invoice(sandbox, engine, expected: dict[str, Decimal]) -> None:
    found = invoices_by_doc_number(sandbox)
    assert {k: len(v) for k, v in found.items() if len(v) > 1} == {}, "duplicate invoices"
    assert set(found) == set(expected)
    assert {k: Decimal(str(v[0]["TotalAmt"])) for k, v in found.items()} == expected
    with session_scope(engine) as session:
        linked = dict(session.execute(sa.select(Order.order_number, Order.qb_invoice_id)).all())
    assert linked == {k: v[0]["Id"] for k, v in found.items()}


def test_500_orders_with_mixed_pricing_become_500_invoices_to_the_cent(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 500)
    expected = hand_computed_totals(sandbox, engine)
    result = push_orders(gateway, engine, "run-1")
    assert (result.pushed, result.failed, result.blocked) == (500, 0, 0)
    assert statuses(engine) == {"synced": 500}
    assert_each_order_has_exactly_one_correct_invoice(sandbox, engine, expected)
    assert sandbox.counters()["calls"]["batch 200"] == 17  # ⌈500/30⌉
    # the line prices are the effective prices: level -12.5 %, customer prices, item prices
    sources = set()
    with session_scope(engine) as session:
        for order in session.scalars(sa.select(Order).limit(60)):
            sources |= {line.price_source for line in draft_invoice(session, order).lines}
    assert sources == {"item", "price_level", "customer"}


def test_faults_during_push_end_synced_or_failed_never_twice(sandbox, make_gateway, engine):
    gateway = make_gateway(timeout_seconds=1.0)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 90)
    expected = hand_computed_totals(sandbox, engine)
    sandbox.inject("503", count=1, path_contains="/batch")
    sandbox.inject("429", count=1, path_contains="/batch")
    sandbox.inject("timeout", count=1, seconds=3, path_contains="/batch")  # QBO saved it, the answer is lost
    push_orders(gateway, engine, "run-1")
    for attempt in range(3):  # later runs pick up whatever is due again
        with session_scope(engine) as session:
            session.execute(
                sa.update(Order)
                .where(Order.status == OrderStatus.FAILED)
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        push_orders(gateway, engine, f"run-{attempt + 2}")
    assert statuses(engine) == {"synced": 90}
    assert_each_order_has_exactly_one_correct_invoice(sandbox, engine, expected)


def test_a_revoked_connection_stops_the_push_and_leaves_orders_pending(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 60)
    expected = hand_computed_totals(sandbox, engine)
    sandbox.inject("revoke", count=1, path_contains="/batch")  # a person disconnected the app mid-run
    with pytest.raises(QuickBooksAuthError, match="auth connect"):
        push_orders(gateway, engine, "run-1")
    assert statuses(engine) == {"pending": 60}  # not failed: nothing is wrong with the orders
    tokens = sandbox.control("POST", "tokens/mint")  # reconnecting, as `qb-pipeline auth connect` does
    with gateway.connection.tokens.locked(gateway.realm_id) as locked:
        locked.save(StoredTokens(gateway.realm_id, refresh_token=tokens["refresh_token"]))
    push_orders(gateway, engine, "run-2")
    assert statuses(engine) == {"synced": 60}
    assert_each_order_has_exactly_one_correct_invoice(sandbox, engine, expected)


def test_an_invoice_already_in_quickbooks_is_linked_not_duplicated(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    (order_id,) = add_orders(engine, 1)
    with session_scope(engine) as session:
        body = draft_invoice(session, session.get(Order, order_id)).payload()
    existing = gateway.create("Invoice", body, request_id="made-by-hand")  # e.g. typed in by a person
    result = push_orders(gateway, engine, "run-1")
    assert (result.pushed, result.linked) == (0, 1)
    with session_scope(engine) as session:
        assert session.get(Order, order_id).qb_invoice_id == existing["Id"]
    assert len(sandbox.dump("Invoice")["records"]) == 1


def test_two_runs_at_once_on_300_orders_make_300_invoices(sandbox, make_gateway, engine):
    setup = make_gateway()
    build_shop(sandbox, setup, engine)
    add_orders(engine, 300)
    expected = hand_computed_totals(sandbox, engine)
    gateways = [make_gateway(), make_gateway()]
    start = threading.Barrier(2)
    results, errors = {}, []

    def run(n: int) -> None:
        try:
            start.wait()
            results[n] = push_orders(gateways[n], engine, f"run-{n}", limit=120)
            while (more := push_orders(gateways[n], engine, f"run-{n}", limit=120)).processed:
                results[n].pushed += more.pushed
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors
    assert results[0].pushed + results[1].pushed == 300 and results[0].pushed and results[1].pushed
    assert_each_order_has_exactly_one_correct_invoice(sandbox, engine, expected)


def test_bad_orders_get_reasons_and_the_rest_are_pushed(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 5)
    with session_scope(engine) as session:
        item = session.scalars(sa.select(Item).where(Item.active)).first()
        customer = session.scalars(sa.select(Customer).where(Customer.active)).first()

        def order(number, **fields):
            lines = fields.pop("lines", [OrderLine(line_number=1, item_id=item.id, quantity=Decimal("1"))])
            session.add(
                Order(order_number=number, customer_id=fields.pop("customer_id", customer.id), lines=lines, **fields)
            )

        order("BAD-CUST", customer_id=None, customer_name="Nobody Inc")
        order("BAD-QTY", lines=[OrderLine(line_number=1, item_id=item.id, quantity=Decimal("0"))])
        order(
            "BAD-PRICE",
            lines=[OrderLine(line_number=1, item_id=item.id, quantity=Decimal("1"), unit_price=Decimal("1.99912345"))],
        )
        order("BAD-NONE", lines=[])
        order("X" * 22)
        session.add(Customer(display_name="Local: Bad Name"))
        session.flush()
        bad_customer = session.scalars(sa.select(Customer).where(Customer.qb_id.is_(None))).one()
        order("NEEDS-CUSTOMER", customer_id=bad_customer.id)
        session.add(Customer(display_name="New Local Customer ☕ O'Hara"))
        session.flush()
        new_customer = session.scalars(sa.select(Customer).where(Customer.display_name.like("New Local%"))).one()
        order("NEW-CUSTOMER", customer_id=new_customer.id)
    result = push_orders(gateway, engine, "run-1")
    assert result.pushed == 6  # the five good orders and the one whose customer was created first
    with session_scope(engine) as session:
        reasons = {
            o.order_number: (o.status.value, o.status_reason)
            for o in session.scalars(sa.select(Order))
            if o.status != OrderStatus.SYNCED
        }
    assert reasons["BAD-CUST"] == (
        "failed",
        "customer 'Nobody Inc' is not in the customer list: add it in QuickBooks (the order goes again by itself "
        "once a sync brings it in, or at once with `qb-pipeline orders retry BAD-CUST`), or correct the order: "
        "`qb-pipeline orders edit BAD-CUST --customer NAME`",
    )
    assert reasons["BAD-QTY"][1] == "line 1: quantity must be greater than zero (got 0)"
    assert reasons["BAD-PRICE"][1] == "line 1: price 1.99912345 has more than 7 decimals"
    assert reasons["BAD-NONE"][1] == "the order has no lines"
    assert "at most 21" in reasons["X" * 22][1]
    assert (
        reasons["NEEDS-CUSTOMER"][0] == "blocked"
        and "could not be created in QuickBooks" in reasons["NEEDS-CUSTOMER"][1]
    )
    assert "New Local Customer ☕ O'Hara" in {r["DisplayName"] for r in sandbox.dump("Customer")["records"]}


def test_sigkill_after_quickbooks_accepted_a_batch_loses_nothing_and_duplicates_nothing(
    sandbox, make_gateway, engine, database_url
):
    key = new_key()
    gateway = make_gateway(key=key)
    build_shop(sandbox, gateway, engine)
    add_orders(engine, 45)
    expected = hand_computed_totals(sandbox, engine)
    push_killed_mid_batch(sandbox, database_url, key)
    assert statuses(engine) == {"pushing": 45}  # claimed by the dead run, invoices exist in QuickBooks
    result = push_orders(gateway, engine, "recovery-run", stale_after=timedelta(seconds=0))
    assert result.linked == 30 and result.pushed == 15
    assert statuses(engine) == {"synced": 45}
    assert_each_order_has_exactly_one_correct_invoice(sandbox, engine, expected)

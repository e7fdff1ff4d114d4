"""Orders become correct invoice drafts, or are refused with a reason a person can act on."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item, Order, OrderLine, OrderStatus, SyncState
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync import pricing
from qb_pipeline.sync.invoice_draft import OrderRejected, draft_invoice

D = Decimal
AT = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
_numbers = itertools.count(1)


@pytest.fixture
def shop(engine):
    with session_scope(engine) as session:
        session.add_all(
            [
                Customer(display_name="O'Brien & Sons ☕", qb_id="1", sync_state=SyncState.SYNCED),
                Customer(display_name="Dormant Ltd", qb_id="2", active=False),
                Customer(display_name="Rejected Co", sync_state=SyncState.FAILED, last_error="name contains ':'"),
                Item(name="Widget", unit_price=D("19.99"), qb_id="10"),
                Item(name="Bolt", unit_price=D("0.07"), qb_id="11"),
                Item(name="Retired", unit_price=D("1.00"), qb_id="12", active=False),
            ]
        )
    return engine


def draft(engine, customer="O'Brien & Sons ☕", lines=(("Widget", "2", None),), number=None, **order_fields):
    with session_scope(engine) as session:
        order = Order(
            order_number=number or f"SO-{next(_numbers)}",
            customer_name=customer,
            ordered_at=AT,
            lines=[
                OrderLine(
                    line_number=i, item_name=name, quantity=D(qty), unit_price=None if price is None else D(price)
                )
                for i, (name, qty, price) in enumerate(lines, start=1)
            ],
            **order_fields,
        )
        session.add(order)
        session.flush()
        return draft_invoice(session, order)


def rejected(engine, **kwargs) -> OrderRejected:
    with pytest.raises(OrderRejected) as caught:
        draft(engine, **kwargs)
    return caught.value


def test_payload_prices_lines_and_totals_to_the_cent(shop):
    with session_scope(shop) as session:
        customer_id = session.scalar(sa.select(Customer.id).where(Customer.qb_id == "1"))
        bolt_id = session.scalar(sa.select(Item.id).where(Item.name == "Bolt"))
        pricing.set_customer_item_price(session, customer_id, bolt_id, D("0.05"), at=AT)
    result = draft(
        shop,
        customer="o'brien & sons ☕",
        number="SO-1001",
        lines=(("Widget", "3", None), ("bolt", "333", None), ("Widget", "1.5", "10.01")),
    )
    payload = result.payload()
    assert payload["DocNumber"] == "SO-1001" and payload["CustomerRef"] == {"value": "1"}
    assert payload["TxnDate"] == "2026-11-24"
    details = [
        (line["SalesItemLineDetail"]["Qty"], line["SalesItemLineDetail"]["UnitPrice"], line["Amount"])
        for line in payload["Line"]
    ]
    assert details == [
        (D("3"), D("19.99"), D("59.97")),
        (D("333"), D("0.05"), D("16.65")),
        (D("1.5"), D("10.01"), D("15.02")),
    ]
    assert [line.price_source for line in result.lines] == ["item", "customer", "order"]
    assert result.total == D("91.64")
    assert str(details[0][0]) == "3"  # no exponent forms on the wire


@pytest.mark.parametrize(
    "kwargs, status, reason",
    [
        ({"customer": "Nobody Inc"}, OrderStatus.FAILED, "customer 'Nobody Inc' is not in the customer list"),
        ({"lines": (("Gizmo", "1", None),)}, OrderStatus.FAILED, "line 1: item 'Gizmo' is not in the item list"),
        ({"lines": (("Widget", "0", None),)}, OrderStatus.FAILED, "line 1: quantity must be greater than zero (got 0"),
        ({"lines": (("Widget", "-2", None),)}, OrderStatus.FAILED, "quantity must be greater than zero (got -2"),
        (
            {"lines": (("Widget", "1", "9.99912345"),)},
            OrderStatus.FAILED,
            "line 1: price 9.99912345 has more than 7 decimals",
        ),
        ({"lines": (("Widget", "1", "-1"),)}, OrderStatus.FAILED, "price must not be negative"),
        ({"lines": ()}, OrderStatus.FAILED, "the order has no lines"),
        ({"lines": (("Bolt", "1", None),) * 1000}, OrderStatus.FAILED, "the order has 1000 lines; at most 999"),
        (
            {"number": "SO-" + "9" * 19},
            OrderStatus.FAILED,
            "has 22 characters; QuickBooks invoice numbers allow at most 21",
        ),
        ({"customer": "Dormant Ltd"}, OrderStatus.BLOCKED, "customer 'Dormant Ltd' is inactive in QuickBooks"),
        ({"customer": "Rejected Co"}, OrderStatus.BLOCKED, "could not be created in QuickBooks: name contains ':'"),
        ({"lines": (("Retired", "1", None),)}, OrderStatus.BLOCKED, "line 1: item 'Retired' is inactive"),
    ],
)
def test_bad_orders_get_a_specific_reason(shop, kwargs, status, reason):
    error = rejected(shop, **kwargs)
    assert error.status == status
    assert reason in error.reason


def test_non_numeric_quantity_written_by_the_order_app_is_refused(shop):
    if shop.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's NUMERIC column refuses text at insert time")
    with session_scope(shop) as session:
        order = Order(order_number="SO-TEXT", customer_name="O'Brien & Sons ☕", ordered_at=AT)
        session.add(order)
        session.flush()
        session.execute(
            sa.text(
                "INSERT INTO order_lines (order_id, line_number, item_name, quantity) VALUES (:o, 1, 'Widget', 'two')"
            ),
            {"o": order.id},
        )
    with session_scope(shop) as session:
        with pytest.raises(OrderRejected) as caught:
            draft_invoice(session, session.get(Order, order.id))
    assert caught.value.status == OrderStatus.FAILED
    assert caught.value.reason == "line 1: quantity 'two' is not a number"

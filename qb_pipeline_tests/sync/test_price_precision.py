"""Unit prices at QuickBooks' precision (7 decimal places), amounts in cents rounded half up per line.

The figures are checked in the sandbox's own dump (it computes line amounts from Intuit's rule, not from
our code) and in the database, never through the pricing code under test.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    Item,
    Order,
    OrderLine,
    OrderStatus,
    PriceLevel,
    PriceLevelItem,
    PriceLevelType,
)
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import price_book, pricing
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.fixtures.name_lists import customer_named, item_named

D = Decimal


@pytest.fixture
def rocks_at_an_eighth(demo_company, sandbox, engine):
    """The demo company mirrored here, after Rocks was repriced in QuickBooks to 0.125; the gateway."""
    gateway = demo_company
    with session_scope(engine) as session:
        rocks_qb_id = item_named(session, "Rocks").qb_id
    record = next(r for r in sandbox.dump("Item")["records"] if r["Id"] == rocks_qb_id)
    time.sleep(1.1)  # QuickBooks' LastUpdatedTime has one-second resolution
    update = {"Id": rocks_qb_id, "SyncToken": record["SyncToken"], "sparse": True, "UnitPrice": D("0.125")}
    (outcome,) = gateway.update_many("Item", [("reprice", update)])
    assert outcome.ok, outcome
    pull_name_list(gateway, engine, "Item")
    return gateway


def _quickbooks_invoice(sandbox, doc_number: str) -> dict:
    (invoice,) = [
        r for r in sandbox.control("GET", "dump/Invoice", decimals=True)["records"] if r["DocNumber"] == doc_number
    ]
    return invoice


def test_an_item_at_an_eighth_of_a_cent_is_mirrored_and_invoiced_at_that_price(rocks_at_an_eighth, sandbox, engine):
    """1,000 units of an item QuickBooks prices at 0.125 are 125.00, as QuickBooks computes them, not 130.00."""
    gateway = rocks_at_an_eighth
    with session_scope(engine) as session:
        assert item_named(session, "Rocks").unit_price == D("0.125")
        cool = customer_named(session, "Cool Cars")
        for number, quantity in (("EIGHTH-1000", "1000"), ("EIGHTH-1", "1"), ("EIGHTH-3", "3")):
            session.add(
                Order(
                    order_number=number,
                    customer_id=cool.id,
                    lines=[OrderLine(line_number=1, item_name="Rocks", quantity=D(quantity))],
                )
            )
    result = push_orders(gateway, engine, "run-precision")
    assert (result.pushed, result.failed, result.blocked) == (3, 0, 0)
    # QuickBooks' own figures: Qty × UnitPrice rounded half up to the cent (0.125 → 0.13, 0.375 → 0.38)
    for number, amount in (("EIGHTH-1000", "125.00"), ("EIGHTH-1", "0.13"), ("EIGHTH-3", "0.38")):
        invoice = _quickbooks_invoice(sandbox, number)
        (line,) = [line for line in invoice["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
        assert line["SalesItemLineDetail"]["UnitPrice"] == D("0.125")
        assert (line["Amount"], invoice["TotalAmt"]) == (D(amount), D(amount)), number
    with session_scope(engine) as session:
        invoiced = dict(session.execute(sa.select(Order.order_number, Order.invoiced_total)).all())
        assert invoiced == {"EIGHTH-1000": D("125.00"), "EIGHTH-1": D("0.13"), "EIGHTH-3": D("0.38")}
        assert set(session.scalars(sa.select(Order.status))) == {OrderStatus.SYNCED}


def test_a_percentage_price_is_rounded_half_up_to_seven_places_and_its_amount_to_the_cent(
    rocks_at_an_eighth, sandbox, engine
):
    """A level 10 % off an item at 0.125 prices it 0.1125 (not 0.11), so 1,000 units are 112.50 (not 110.00);
    a result past seven places is rounded half up there: 0.0000015 − 50 % = 0.00000075 → 0.0000008."""
    gateway = rocks_at_an_eighth
    with session_scope(engine) as session:
        cool, rocks = customer_named(session, "Cool Cars"), item_named(session, "Rocks")
        long_ago = utcnow() - timedelta(days=1)
        level = PriceLevel(name="Ten off", level_type=PriceLevelType.FIXED_PERCENTAGE)
        session.add(level)
        session.flush()
        pricing.set_level_percentage(session, level.id, D("-10"), at=long_ago)
        pricing.assign_price_level(session, cool.id, level.id, at=long_ago)
        assert price_book.apply_percent(D("0.0000015"), D("-50")) == D("0.0000008")
        assert price_book.effective_price(session, cool.id, rocks, utcnow()) == price_book.PriceQuote(
            D("0.1125"), "price_level", "Ten off"
        )
        session.add(
            Order(
                order_number="TENOFF-1000",
                customer_id=cool.id,
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=D("1000"))],
            )
        )
    result = push_orders(gateway, engine, "run-percent")
    assert (result.pushed, result.failed) == (1, 0)
    invoice = _quickbooks_invoice(sandbox, "TENOFF-1000")
    (line,) = [line for line in invoice["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
    assert line["SalesItemLineDetail"]["UnitPrice"] == D("0.1125")
    assert (line["Amount"], invoice["TotalAmt"]) == (D("112.50"), D("112.50"))


def test_customer_and_level_prices_and_order_prices_keep_seven_places(engine):
    """What the database holds is what was set: seven places, exactly, on either database."""
    with session_scope(engine) as session:
        acme, widget = Customer(display_name="Acme"), Item(name="Widget", unit_price=D("0.1234567"))
        level = PriceLevel(name="VIP", level_type=PriceLevelType.PER_ITEM)
        session.add_all([acme, widget, level])
        session.flush()
        pricing.set_customer_item_price(session, acme.id, widget.id, D("0.0012345"))
        pricing.set_level_item(session, level.id, widget.id, custom_price=D("12345678.9876543"))
        session.add(
            Order(
                order_number="SEVEN",
                customer_id=acme.id,
                lines=[OrderLine(line_number=1, item_id=widget.id, quantity=D("1"), unit_price=D("0.1234567"))],
            )
        )
    with session_scope(engine) as session:  # read back in a new session: what the columns kept
        stored = [
            session.scalars(sa.select(Item.unit_price)).one(),
            session.scalars(sa.select(CustomerItemPrice.unit_price)).one(),
            session.scalars(sa.select(PriceLevelItem.custom_price)).one(),
            session.scalars(sa.select(OrderLine.unit_price)).one(),
        ]
    assert stored == [D("0.1234567"), D("0.0012345"), D("12345678.9876543"), D("0.1234567")]

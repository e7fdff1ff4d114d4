"""Effective prices: customer price, else price level, else item price — as of the order time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qb_pipeline.db.models import Customer, Item, PriceLevel, PriceLevelType
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync import price_book, pricing

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
D = Decimal


@pytest.fixture
def catalog(engine):
    with session_scope(engine) as session:
        customer = Customer(display_name="Acme")
        widget = Item(name="Widget", unit_price=D("19.99"))
        gadget = Item(name="Gadget", unit_price=D("5.00"))
        wholesale = PriceLevel(name="Wholesale", level_type=PriceLevelType.FIXED_PERCENTAGE)
        vip = PriceLevel(name="VIP", level_type=PriceLevelType.PER_ITEM)
        session.add_all([customer, widget, gadget, wholesale, vip])
        session.flush()
        return {"customer": customer.id, "widget": widget, "gadget": gadget, "wholesale": wholesale.id, "vip": vip.id}


def quote(engine, catalog, item, at):
    with session_scope(engine) as session:
        return price_book.effective_price(session, catalog["customer"], catalog[item], at)


def test_item_price_when_nothing_else_applies(engine, catalog):
    assert quote(engine, catalog, "widget", T0) == price_book.PriceQuote(D("19.99"), "item")


def test_fixed_percentage_level_keeps_the_unit_price_places(engine, catalog):
    with session_scope(engine) as session:
        pricing.set_level_percentage(session, catalog["wholesale"], D("-12.5"), at=T0)
        pricing.assign_price_level(session, catalog["customer"], catalog["wholesale"], at=T0)
    # 19.99 × 0.875 = 17.49125 and 5.00 × 0.875 = 4.375: unit prices, not rounded to the cent (a line's amount is)
    assert quote(engine, catalog, "widget", T0 + timedelta(days=1)) == price_book.PriceQuote(
        D("17.49125"), "price_level", "Wholesale"
    )
    assert quote(engine, catalog, "gadget", T0 + timedelta(days=1)).unit_price == D("4.375")


def test_per_item_level_custom_price_and_percent_and_unlisted_item(engine, catalog):
    with session_scope(engine) as session:
        pricing.set_level_item(session, catalog["vip"], catalog["widget"].id, custom_price=D("15.00"), at=T0)
        pricing.assign_price_level(session, catalog["customer"], catalog["vip"], at=T0)
    later = T0 + timedelta(days=1)
    assert quote(engine, catalog, "widget", later).unit_price == D("15.00")
    assert quote(engine, catalog, "gadget", later) == price_book.PriceQuote(D("5.00"), "item")
    with session_scope(engine) as session:
        pricing.set_level_item(session, catalog["vip"], catalog["gadget"].id, custom_percent=D("10"), at=later)
    assert quote(engine, catalog, "gadget", later + timedelta(seconds=1)).unit_price == D("5.50")


def test_customer_price_wins_over_level(engine, catalog):
    with session_scope(engine) as session:
        pricing.set_level_percentage(session, catalog["wholesale"], D("-50"), at=T0)
        pricing.assign_price_level(session, catalog["customer"], catalog["wholesale"], at=T0)
        pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, D("18.00"), at=T0)
    assert quote(engine, catalog, "widget", T0) == price_book.PriceQuote(D("18.00"), "customer")


def test_history_prices_an_order_as_of_its_own_time(engine, catalog):
    jan, feb, mar = T0, T0 + timedelta(days=31), T0 + timedelta(days=59)
    with session_scope(engine) as session:
        pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, D("18.00"), at=jan)
        pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, D("17.00"), at=feb)
        pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, None, at=mar)
    assert quote(engine, catalog, "widget", jan - timedelta(seconds=1)).unit_price == D("19.99")
    assert quote(engine, catalog, "widget", jan + timedelta(days=1)).unit_price == D("18.00")
    assert quote(engine, catalog, "widget", feb).unit_price == D("17.00")  # the new interval starts at feb
    assert quote(engine, catalog, "widget", mar).unit_price == D("19.99")


def test_bad_prices_are_refused_with_a_reason(engine, catalog):
    with session_scope(engine) as session:
        with pytest.raises(price_book.PricingError, match="more than 7 decimals"):
            pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, D("1.23456789"))
        with pytest.raises(price_book.PricingError, match="more than 7 decimals"):  # zeros are decimals too
            pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, D("1.00000000"))
        with pytest.raises(price_book.PricingError, match="more than four decimals"):
            pricing.check_percent(D("10.00000"))
        with pytest.raises(price_book.PricingError, match="negative"):
            pricing.set_customer_item_price(session, catalog["customer"], catalog["widget"].id, D("-1"))
        unpriced = Item(name="Unpriced")
        session.add(unpriced)
        session.flush()
        with pytest.raises(price_book.PricingError, match="has no price"):
            price_book.effective_price(session, catalog["customer"], unpriced, T0)

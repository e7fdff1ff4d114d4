"""Invoices are dated in the company's time zone on each order's own date, across daylight saving."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item, Order, OrderLine
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync import pricing
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline_tests.fixtures.name_lists import mirror_customers_and_items
from qb_pipeline_tests.fixtures.orders import invoices_by_doc_number

PACIFIC = ZoneInfo("America/Los_Angeles")  # the sandbox company's zone


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PACIFIC)


def test_an_order_just_after_midnight_across_daylight_saving_is_dated_the_day_its_price_starts(
    sandbox, make_gateway, engine
):
    # A fixed offset (the one QuickBooks writes today) dates one of these orders on the wrong day,
    # whichever side of daylight saving the test runs on: 00:30 PDT is 23:30 the day before at -08:00,
    # and 23:30 PST is 00:30 the day after at -07:00.
    gateway = make_gateway()
    sandbox.seed(customers=1, items=1)
    mirror_customers_and_items(gateway, engine)
    with session_scope(engine) as session:
        customer, item = session.scalars(sa.select(Customer)).one(), session.scalars(sa.select(Item)).one()
        for price, starts in (("5.00", "2026-01-01T00:00"), ("6.00", "2026-10-31T00:00"), ("7.00", "2026-11-15T00:00")):
            pricing.set_customer_item_price(session, customer.id, item.id, Decimal(price), at=local(starts))
        for number, placed in (("SUMMER", "2026-10-31T00:30"), ("WINTER", "2026-11-14T23:30")):
            line = OrderLine(line_number=1, item_id=item.id, quantity=Decimal(1))
            session.add(Order(order_number=number, customer_id=customer.id, ordered_at=local(placed), lines=[line]))

    result = push_orders(gateway, engine, "run-1")

    assert (result.pushed, result.failed, result.blocked) == (2, 0, 0)
    invoiced = {
        number: (found[0]["TxnDate"], Decimal(str(found[0]["Line"][0]["SalesItemLineDetail"]["UnitPrice"])))
        for number, found in invoices_by_doc_number(sandbox).items()
    }
    # 6.00 starts at midnight of 31 October (PDT) and 7.00 at midnight of 15 November (PST)
    assert invoiced == {"SUMMER": ("2026-10-31", Decimal("6.00")), "WINTER": ("2026-11-14", Decimal("6.00"))}

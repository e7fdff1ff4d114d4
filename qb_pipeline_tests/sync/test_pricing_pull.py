"""A pull from QuickBooks keeps each item's price over time, so an order is priced as of its own time."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from qb_pipeline.db.models import ItemPrice, PriceLevel, PriceLevelType
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import price_book, pricing
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.fixtures.name_lists import customer_named, item_named


def test_a_pull_records_the_item_price_history_so_an_earlier_order_keeps_the_old_price(demo_company, sandbox, engine):
    gateway = demo_company  # Rocks: 9.95
    with session_scope(engine) as session:
        cool, rocks = customer_named(session, "Cool Cars"), item_named(session, "Rocks")
        cool_id, rocks_qb_id = cool.id, rocks.qb_id
        level = PriceLevel(name="Wholesale", level_type=PriceLevelType.FIXED_PERCENTAGE)
        session.add(level)
        session.flush()
        long_ago = utcnow() - timedelta(days=60)
        pricing.set_level_percentage(session, level.id, Decimal("-10"), at=long_ago)
        pricing.assign_price_level(session, cool_id, level.id, at=long_ago)
    ordered_at = utcnow()  # an order placed now, before the price changes in QuickBooks
    time.sleep(1.1)  # QuickBooks' LastUpdatedTime has one-second resolution
    record = next(r for r in sandbox.dump("Item")["records"] if r["Id"] == rocks_qb_id)
    (outcome,) = gateway.update_many(
        "Item",
        [
            (
                "rocks",
                {"Id": rocks_qb_id, "SyncToken": record["SyncToken"], "sparse": True, "UnitPrice": Decimal("12.50")},
            )
        ],
    )
    assert outcome.ok, outcome
    pull_name_list(gateway, engine, "Item")
    with session_scope(engine) as session:
        rocks = item_named(session, "Rocks")
        assert rocks.unit_price == Decimal("12.50")  # the pull saw the change
        # a retried order of before the change is priced as it was then: 9.95 − 10 %, not 12.50 − 10 %
        assert price_book.effective_price(session, cool_id, rocks, ordered_at) == price_book.PriceQuote(
            Decimal("8.955"), "price_level", "Wholesale"
        )
        assert price_book.effective_price(session, cool_id, rocks, utcnow()).unit_price == Decimal("11.25")
        history = session.scalars(
            sa.select(ItemPrice).where(ItemPrice.item_id == rocks.id).order_by(ItemPrice.valid_from)
        )
        assert [(row.unit_price, row.valid_to is None) for row in history] == [
            (Decimal("9.95"), False),
            (Decimal("12.50"), True),
        ]

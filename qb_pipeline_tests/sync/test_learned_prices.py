"""Special prices typed into QuickBooks invoices become reviewable suggestions, never applied silently."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from qb_pipeline.db.models import Customer, CustomerItemPrice, Item
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import price_book, pricing
from qb_pipeline.sync.invoice_mirror import mirror_invoices
from qb_pipeline.sync.learned_prices import as_pricing_csv, learned_prices
from qb_pipeline.sync.pricing_import import import_pricing
from qb_pipeline.sync.pull import pull_name_list


def demo_mirrored(sandbox, gateway, engine, *items: str):
    """The demo company mirrored here: Cool Cars and the named items, as rows of our database."""
    sandbox.seed(preset="demo")
    pull_name_list(gateway, engine, "Customer")
    pull_name_list(gateway, engine, "Item")
    with session_scope(engine) as session:
        cool = session.scalars(sa.select(Customer).where(Customer.display_name == "Cool Cars")).one()
        return cool, *(session.scalars(sa.select(Item).where(Item.name == name)).one() for name in items)


def test_last_invoiced_price_that_differs_is_suggested_and_importable(sandbox, make_gateway, engine):
    gateway = make_gateway()
    cool, rocks, sod = demo_mirrored(sandbox, gateway, engine, "Rocks", "Sod")
    for doc, price in (("HAND-1", "8.50"), ("HAND-2", "7.77")):  # typed in QuickBooks by a person
        gateway.create(
            "Invoice",
            {
                "DocNumber": doc,
                "CustomerRef": {"value": cool.qb_id},
                "Line": [
                    {
                        "DetailType": "SalesItemLineDetail",
                        "Amount": Decimal(price),
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": rocks.qb_id},
                            "Qty": 1,
                            "UnitPrice": Decimal(price),
                        },
                    },
                    {
                        "DetailType": "SalesItemLineDetail",
                        "Amount": Decimal("4.75"),
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": sod.qb_id},
                            "Qty": 1,
                            "UnitPrice": Decimal("4.75"),
                        },
                    },
                ],
            },
            request_id=doc,
        )
    mirror_invoices(gateway, engine)
    with session_scope(engine) as session:
        suggestions = learned_prices(session, gateway.realm_id)
        # Sod was invoiced at its normal price: nothing to learn. Rocks: the last special price.
        assert [(s.customer, s.item, s.invoiced_price, s.price_then) for s in suggestions] == [
            ("Cool Cars", "Rocks", Decimal("7.77"), Decimal("9.95"))
        ]
        assert price_book.effective_price(session, cool.id, rocks, utcnow()).unit_price == Decimal(
            "9.95"
        )  # not applied
        report = import_pricing(session, as_pricing_csv(suggestions))
        assert report.ok and report.applied == 1
        sources = session.scalars(sa.select(CustomerItemPrice.source)).all()
        assert sources == ["learned"]
    with session_scope(engine) as session:
        assert learned_prices(session, gateway.realm_id) == []


def test_7_learned_prices_respect_the_price_of_the_day_and_skip_free_or_mixed_lines(sandbox, make_gateway, engine):
    gateway = make_gateway()
    cool, rocks, sod, soil = demo_mirrored(sandbox, gateway, engine, "Rocks", "Sod", "Soil")
    with session_scope(engine) as session:
        # our price for Rocks was 7.00 when the invoice below was made; raised to 8.00 since, on purpose
        pricing.set_customer_item_price(session, cool.id, rocks.id, Decimal("7.00"), at=utcnow() - timedelta(days=30))
        ids = {"customer": cool.qb_id, "rocks": rocks.qb_id, "sod": sod.qb_id, "soil": soil.qb_id}

    def line(item: str, price: str) -> dict:
        return {
            "DetailType": "SalesItemLineDetail",
            "Amount": Decimal(price),
            "SalesItemLineDetail": {"ItemRef": {"value": ids[item]}, "Qty": 1, "UnitPrice": Decimal(price)},
        }

    gateway.create(
        "Invoice",
        {
            "DocNumber": "OLD-1",
            "TxnDate": (utcnow() - timedelta(days=2)).date().isoformat(),
            "CustomerRef": {"value": ids["customer"]},
            "Line": [
                line("rocks", "7.00"),
                line("sod", "0.00"),  # a free replacement
                line("soil", "6.00"),
                line("soil", "7.50"),
            ],
        },  # two prices: nothing to learn
        request_id="old-1",
    )
    with session_scope(engine) as session:
        pricing.set_customer_item_price(session, cool.id, rocks.id, Decimal("8.00"))
    mirror_invoices(gateway, engine)
    with session_scope(engine) as session:
        assert learned_prices(session, gateway.realm_id) == []

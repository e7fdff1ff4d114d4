"""Special prices typed into QuickBooks invoices become reviewable suggestions, never applied silently."""

from __future__ import annotations

import io
from decimal import Decimal

import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import pricing
from qb_pipeline.sync.invoice_mirror import mirror_invoices
from qb_pipeline.sync.learned_prices import as_pricing_csv, learned_prices
from qb_pipeline.sync.pricing_csv import import_pricing
from qb_pipeline.sync.pull import pull_name_list


def test_last_invoiced_price_that_differs_is_suggested_and_importable(sandbox, make_gateway, engine):
    gateway = make_gateway()
    sandbox.seed(preset="demo")
    pull_name_list(gateway, engine, "Customer")
    pull_name_list(gateway, engine, "Item")
    with session_scope(engine) as session:
        cool = session.scalars(sa.select(Customer).where(Customer.display_name == "Cool Cars")).one()
        rocks = session.scalars(sa.select(Item).where(Item.name == "Rocks")).one()
        sod = session.scalars(sa.select(Item).where(Item.name == "Sod")).one()
    for doc, price in (("HAND-1", "8.50"), ("HAND-2", "7.77")):  # typed in QuickBooks by a person
        gateway.create("Invoice", {"DocNumber": doc, "CustomerRef": {"value": cool.qb_id}, "Line": [
            {"DetailType": "SalesItemLineDetail", "Amount": Decimal(price),
             "SalesItemLineDetail": {"ItemRef": {"value": rocks.qb_id}, "Qty": 1, "UnitPrice": Decimal(price)}},
            {"DetailType": "SalesItemLineDetail", "Amount": Decimal("4.75"),
             "SalesItemLineDetail": {"ItemRef": {"value": sod.qb_id}, "Qty": 1, "UnitPrice": Decimal("4.75")}},
        ]}, request_id=doc)
    mirror_invoices(gateway, engine)
    with session_scope(engine) as session:
        suggestions = learned_prices(session, gateway.realm_id)
        # Sod was invoiced at its normal price: nothing to learn. Rocks: the last special price.
        assert [(s.customer, s.item, s.invoiced_price, s.current_price) for s in suggestions] == [
            ("Cool Cars", "Rocks", Decimal("7.77"), Decimal("9.95"))]
        assert pricing.effective_price(session, cool.id, rocks, utcnow()).unit_price == Decimal("9.95")  # not applied
        report = import_pricing(session, io.StringIO(as_pricing_csv(suggestions)))
        assert report.ok and report.applied == 1
    with session_scope(engine) as session:
        assert learned_prices(session, gateway.realm_id) == []

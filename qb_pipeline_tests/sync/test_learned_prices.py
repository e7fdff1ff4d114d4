"""Special prices typed into QuickBooks invoices become reviewable suggestions, never applied silently."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, CustomerItemPrice, Item, Order, OrderLine, QBInvoice
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import price_book, pricing
from qb_pipeline.sync.invoice_draft import invoice_marker
from qb_pipeline.sync.invoice_mirror import mirror_invoices
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.learned_prices import as_pricing_csv, learned_prices
from qb_pipeline.sync.pricing_import import import_pricing
from qb_pipeline_tests.fixtures.name_lists import customer_named, item_named


def found(engine, *items: str) -> tuple:
    """Cool Cars and the named items, as rows of our database."""
    with session_scope(engine) as session:
        return customer_named(session, "Cool Cars"), *(item_named(session, name) for name in items)


def sales_line(item_qb_id: str, price: str) -> dict:
    """One line of an invoice as QuickBooks takes it: one of the item at `price`."""
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": Decimal(price),
        "SalesItemLineDetail": {"ItemRef": {"value": item_qb_id}, "Qty": 1, "UnitPrice": Decimal(price)},
    }


@pytest.fixture
def rocks_typed_at_special_prices(demo_company, engine) -> tuple[Customer, Item]:
    """Two invoices typed in QuickBooks by a person, Rocks at 8.50 and then 7.77 (not its 9.95), Sod at its
    4.75; mirrored. Cool Cars and Rocks."""
    cool, rocks, sod = found(engine, "Rocks", "Sod")
    for doc, price in (("HAND-1", "8.50"), ("HAND-2", "7.77")):
        body = {
            "DocNumber": doc,
            "CustomerRef": {"value": cool.qb_id},
            "Line": [sales_line(rocks.qb_id, price), sales_line(sod.qb_id, "4.75")],
        }
        demo_company.create("Invoice", body, request_id=doc)
    mirror_invoices(demo_company, engine)
    return cool, rocks


def test_the_last_special_price_typed_in_quickbooks_is_suggested_not_applied(
    rocks_typed_at_special_prices, demo_company, engine
):
    cool, rocks = rocks_typed_at_special_prices
    with session_scope(engine) as session:
        suggestions = learned_prices(session, demo_company.realm_id)
        # Sod was invoiced at its normal price: nothing to learn. Rocks: the last special price.
        assert [(s.customer, s.item, s.invoiced_price, s.price_then) for s in suggestions] == [
            ("Cool Cars", "Rocks", Decimal("7.77"), Decimal("9.95"))
        ]
        assert price_book.effective_price(session, cool.id, rocks, utcnow()).unit_price == Decimal("9.95")


def test_an_imported_suggestion_is_a_learned_price_and_no_longer_suggested(
    rocks_typed_at_special_prices, demo_company, engine
):
    with session_scope(engine) as session:
        report = import_pricing(session, as_pricing_csv(learned_prices(session, demo_company.realm_id)))
        assert report.ok and report.applied == 1
        assert session.scalars(sa.select(CustomerItemPrice.source)).all() == ["learned"]
    with session_scope(engine) as session:
        assert learned_prices(session, demo_company.realm_id) == []


def test_7_learned_prices_respect_the_price_of_the_day_and_skip_free_or_mixed_lines(demo_company, engine):
    gateway = demo_company
    cool, rocks, sod, soil = found(engine, "Rocks", "Sod", "Soil")
    with session_scope(engine) as session:
        # our price for Rocks was 7.00 when the invoice below was made; raised to 8.00 since, on purpose
        pricing.set_customer_item_price(session, cool.id, rocks.id, Decimal("7.00"), at=utcnow() - timedelta(days=30))
        ids = {"customer": cool.qb_id, "rocks": rocks.qb_id, "sod": sod.qb_id, "soil": soil.qb_id}

    def line(item: str, price: str) -> dict:
        return sales_line(ids[item], price)

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


def typed_invoice(gateway, doc: str, customer: Customer, item: Item, price: str, **fields) -> dict:
    """An invoice of one line made in QuickBooks (by a person, unless `fields` carry our marker)."""
    body = {
        "DocNumber": doc,
        "CustomerRef": {"value": customer.qb_id},
        "Line": [sales_line(item.qb_id, price)],
        **fields,
    }
    return gateway.create("Invoice", body, request_id=doc)


def test_invoices_we_made_teach_nothing_by_their_marker_or_by_their_order(demo_company, sandbox, engine):
    """A one-off price typed on an order must not come back as the customer's standing price. Two
    protections, each enough alone: our PrivateNote marker, and the invoice being linked to an order."""
    gateway = demo_company
    cool, rocks, sod, soil = found(engine, "Rocks", "Sod", "Soil")
    typed_invoice(gateway, "HAND-1", cool, rocks, "8.50")  # typed in QuickBooks: a special price
    # ours, its link to the order lost (a crash between send and link): only the marker tells
    typed_invoice(gateway, "LOST-1", cool, sod, "6.66", PrivateNote=invoice_marker("LOST-1"))
    with session_scope(engine) as session:  # an order with a one-off price, pushed: marked and linked
        line = OrderLine(line_number=1, item_id=soil.id, quantity=Decimal(1), unit_price=Decimal("3.33"))
        session.add(Order(order_number="SO-1", customer_id=cool.id, lines=[line]))
    assert push_orders(gateway, engine, "run-1").pushed == 1
    mirror_invoices(gateway, engine)
    with session_scope(engine) as session:  # as mirrored before the marker was kept: only the link tells
        session.execute(sa.update(QBInvoice).where(QBInvoice.doc_number == "SO-1").values(marked_order=None))
    assert {r["DocNumber"]: r.get("PrivateNote") for r in sandbox.dump("Invoice")["records"]} == {
        "HAND-1": None,
        "LOST-1": "qb_pipeline order LOST-1",
        "SO-1": "qb_pipeline order SO-1",
    }
    with session_scope(engine) as session:
        learned = [(s.item, s.invoiced_price) for s in learned_prices(session, gateway.realm_id)]
    assert learned == [("Rocks", Decimal("8.50"))]


def test_our_price_then_is_judged_at_the_invoices_own_time_in_the_companys_zone(demo_company, engine):
    gateway = demo_company
    cool, rocks, sod = found(engine, "Rocks", "Sod")
    pacific = ZoneInfo("America/Los_Angeles")  # the sandbox company's zone
    day = (utcnow() - timedelta(days=3)).astimezone(pacific).date()
    evening = datetime.combine(day, time(19), tzinfo=pacific)  # 19:00 there: the next day in UTC
    with session_scope(engine) as session:
        pricing.set_customer_item_price(session, cool.id, rocks.id, Decimal("7.00"), at=evening - timedelta(days=30))
        pricing.set_customer_item_price(session, cool.id, rocks.id, Decimal("7.50"), at=evening)
    # Dated that day, typed days later: priced at the end of its day there, 7.50 (not 7.00, our price at
    # 23:59:59 UTC of that date, which is 15:59:59 there)
    typed_invoice(gateway, "BACKDATED", cool, rocks, "7.50", TxnDate=day.isoformat())
    # Made today on today's date: priced at its creation, before the change that follows it
    with session_scope(engine) as session:
        pricing.set_customer_item_price(session, cool.id, sod.id, Decimal("4.00"), at=evening)
    created = typed_invoice(gateway, "TODAY", cool, sod, "4.00")
    created_at = datetime.fromisoformat(created["MetaData"]["CreateTime"])
    with session_scope(engine) as session:
        pricing.set_customer_item_price(
            session, cool.id, sod.id, Decimal("4.40"), at=created_at + timedelta(microseconds=1)
        )
        pricing.set_customer_item_price(session, cool.id, rocks.id, Decimal("8.00"))  # both changed since, on purpose
    mirror_invoices(gateway, engine)
    with session_scope(engine) as session:
        assert learned_prices(session, gateway.realm_id) == []  # each invoice had our price of its time
        row = session.scalars(sa.select(QBInvoice).where(QBInvoice.doc_number == "TODAY")).one()
        assert row.qb_created_at == created_at and row.txn_date == created_at.date().isoformat()

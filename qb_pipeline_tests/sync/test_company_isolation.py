"""Two QuickBooks companies in ONE project database: QuickBooks Ids repeat across companies ("1" is a customer in
each), so every row is keyed by company and every lookup takes it. Pulled rows, orders of the same number,
their prices and invoices never collide or leak; counted by plain SQL and from each company's sandbox dump.
An order naming no company is adopted when one company is connected and refused with a reason when two are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.checks import invoice_totals_reconcile, unique_doc_numbers
from qb_pipeline.db.models import Customer, Item, Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_cipher import new_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sync import pricing
from qb_pipeline.sync.companies import CompanyNeeded
from qb_pipeline.sync.invoice_mirror import mirror_invoices
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.order_edits import OrderNotChangeable, cancel_order, edit_order
from qb_pipeline.sync.pricing_export import export_pricing
from qb_pipeline.sync.pricing_stage import import_pricing_file
from qb_pipeline.sync.push import push_name_list
from qb_pipeline_tests.fixtures.gateway import sandbox_gateway
from qb_pipeline_tests.fixtures.name_lists import mirror_customers_and_items
from qb_pipeline_tests.fixtures.orders import add_named_order
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_item
from qb_pipeline_tests.fixtures.sandbox import SandboxHandle

D = Decimal
# Each company's customers and items, in the order they are made: the same Ids name different records, and
# "Cool Cars" and "Rocks" are in both, under different Ids and at different prices.
CUSTOMERS = {"A": ["Cool Cars", "Alpha Landscaping"], "B": ["Beta Bakery", "Cool Cars"]}
ITEMS = {"A": [("Rocks", "9.95"), ("Sod", "4.75")], "B": [("Gravel", "20.00"), ("Rocks", "12.00")]}
A_PRICE = D("8.00")  # company A's own price of Rocks for Cool Cars; company B has none


@dataclass
class Company:
    sandbox: SandboxHandle
    gateway: QuickBooksGateway
    ids: dict[str, str]  # our names of its records → their QuickBooks Ids

    @property
    def realm(self) -> str:
        return self.sandbox.realm_id

    def invoices(self) -> list[dict]:
        return self.sandbox.dump("Invoice")["records"]


@pytest.fixture
def companies(companies_sandbox, engine, tmp_path) -> dict[str, Company]:
    """Companies A and B of one sandbox, each seeded and with its own gateway, on one project database."""
    key, made = new_key(), {}
    for label, handle in zip("AB", companies_sandbox[:2], strict=True):
        folder = tmp_path / handle.realm_id
        folder.mkdir()
        connection = handle.fresh_connection_file(folder)
        gateway = sandbox_gateway(handle, engine, key, connection_file=connection)
        qb = handle.qb_client()
        ids = {f"customer {name}": make_customer(qb, name).Id for name in CUSTOMERS[label]}
        ids |= {f"item {name}": make_item(qb, name, price).Id for name, price in ITEMS[label]}
        made[label] = Company(handle, gateway, ids)
    return made


def mirrored(engine, table: str) -> set[tuple]:
    """(company, QuickBooks Id, name) of every row of `table`, by plain SQL."""
    name = {"customers": "display_name", "items": "name"}[table]
    with engine.connect() as connection:
        return set(connection.execute(sa.text(f"SELECT realm_id, qb_id, {name} FROM {table}")).all())


def expected_rows(companies: dict[str, Company], kind: str) -> set[tuple]:
    return {
        (company.realm, qb_id, key.removeprefix(f"{kind} "))
        for company in companies.values()
        for key, qb_id in company.ids.items()
        if key.startswith(f"{kind} ")
    }


def pull_both(companies: dict[str, Company], engine) -> None:
    for company in companies.values():
        mirror_customers_and_items(company.gateway, engine)


def test_the_same_ids_in_two_companies_are_kept_apart(companies, engine):
    a, b = companies["A"], companies["B"]
    assert a.ids["customer Cool Cars"] == b.ids["customer Beta Bakery"]  # one Id, two customers
    with session_scope(engine) as session:  # made here for A, not pushed yet: B's record of that name is not it
        session.add(Customer(display_name="Beta Bakery", realm_id=a.realm))
    pull_both(companies, engine)
    pull_both(companies, engine)  # a second, incremental pull of each overwrites nothing
    local = (a.realm, None, "Beta Bakery")
    assert mirrored(engine, "customers") == expected_rows(companies, "customer") | {local}
    assert mirrored(engine, "items") == expected_rows(companies, "item")


def priced_orders(companies: dict[str, Company], engine) -> None:
    """Order SO-1 in each company, for its Cool Cars, two of its Rocks; A's Cool Cars has its own price."""
    a = companies["A"]
    with session_scope(engine) as session:
        customer = session.scalars(
            sa.select(Customer).where(Customer.realm_id == a.realm, Customer.qb_id == a.ids["customer Cool Cars"])
        ).one()
        item = session.scalars(sa.select(Item).where(Item.realm_id == a.realm, Item.qb_id == a.ids["item Rocks"])).one()
        pricing.set_customer_item_price(session, customer.id, item.id, A_PRICE, at=utcnow() - timedelta(days=1))
    for company in companies.values():
        add_named_order(engine, "SO-1", "Cool Cars", "Rocks:2", realm_id=company.realm)


def test_orders_of_the_same_number_go_to_their_own_company_at_its_own_prices(companies, engine, database_url):
    pull_both(companies, engine)
    priced_orders(companies, engine)
    for label, company in companies.items():
        result = push_orders(company.gateway, engine, f"run-{label}")
        assert (result.pushed, result.failed, result.blocked) == (1, 0, 0), result.reasons
    a, b = companies["A"], companies["B"]
    (invoice_a,) = a.invoices()
    (invoice_b,) = b.invoices()
    assert (invoice_a["DocNumber"], invoice_a["CustomerRef"]["value"]) == ("SO-1", a.ids["customer Cool Cars"])
    assert (invoice_b["DocNumber"], invoice_b["CustomerRef"]["value"]) == ("SO-1", b.ids["customer Cool Cars"])
    assert D(str(invoice_a["TotalAmt"])) == D("16.00")  # 2 × A's own price for Cool Cars
    assert D(str(invoice_b["TotalAmt"])) == D("24.00")  # 2 × B's Rocks: A's price never reaches B
    assert invoice_a["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"] == a.ids["item Rocks"]
    assert invoice_b["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"] == b.ids["item Rocks"]
    with engine.connect() as connection:
        linked = set(connection.execute(sa.text("SELECT realm_id, status, qb_invoice_id FROM orders")).all())
    assert linked == {(a.realm, "synced", invoice_a["Id"]), (b.realm, "synced", invoice_b["Id"])}
    for company in companies.values():
        mirror_invoices(company.gateway, engine)
    # The checks compare each order with its own company's invoice: one SO-1 in each company is no duplicate.
    database = DatabaseResource(url=database_url)
    assert unique_doc_numbers(dg.build_asset_check_context(), database=database).passed
    reconciled = invoice_totals_reconcile(dg.build_asset_check_context(), database=database)
    assert reconciled.passed and reconciled.metadata["checked"].value == 2


def test_an_order_naming_no_company_waits_for_a_person_when_two_are_connected(companies, engine):
    pull_both(companies, engine)
    order_id = add_named_order(engine, "SO-9", "Cool Cars", "Rocks:1")  # as the order-entry app writes it
    said: list[str] = []
    for label, company in companies.items():
        push_orders(company.gateway, engine, f"run-{label}", progress=said.append)
    assert any("orders failed for naming no company: SO-9" in line for line in said)  # the run's log says so
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        assert (order.status, order.realm_id, order.next_attempt_at) == (OrderStatus.FAILED, None, None)
        assert "names no company and 2 are connected" in order.status_reason
        assert "orders add --company REALM" in order.status_reason
    assert companies["A"].invoices() == [] and companies["B"].invoices() == []


def test_an_order_naming_no_company_is_the_only_company_s(demo_company, engine, sandbox):
    order_id = add_named_order(engine, "SO-7", "Cool Cars", "Rocks:1")
    result = push_orders(demo_company, engine, "run-one")
    assert result.pushed == 1, result.reasons
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT realm_id, status FROM orders WHERE id = :id"), {"id": order_id}).one()
    assert tuple(row) == (demo_company.realm_id, "synced")
    assert [invoice["DocNumber"] for invoice in sandbox.dump("Invoice")["records"]] == ["SO-7"]


PRICES = "kind,customer,price_level,item,price,percent,valid_from\ncustomer_price,Cool Cars,,Rocks,7.00,,\nlevel_percent,,Wholesale,,,-10,\n"


def customer_prices(engine) -> set[tuple]:
    """(company of the customer, company of the item, price) of every customer price, by plain SQL."""
    with engine.connect() as connection:
        return set(
            connection.execute(
                sa.text(
                    "SELECT c.realm_id, i.realm_id, p.unit_price FROM customer_item_prices p "
                    "JOIN customers c ON c.id = p.customer_id JOIN items i ON i.id = p.item_id"
                )
            ).all()
        )


def test_a_pricing_file_is_one_company_s_and_names_that_company_s_records(companies, engine):
    pull_both(companies, engine)
    a, b = companies["A"], companies["B"]
    with pytest.raises(CompanyNeeded, match="2 QuickBooks companies are connected"):
        import_pricing_file(engine, PRICES)  # two connected: which one's pricing is it?
    report = import_pricing_file(engine, PRICES, realm_id=b.realm)
    assert (report.applied, report.errors) == (2, [])
    assert {(r, p) for r, _, p in customer_prices(engine)} == {(b.realm, D("7.00"))}
    assert {(r, p) for _, r, p in customer_prices(engine)} == {(b.realm, D("7.00"))}
    with session_scope(engine) as session:  # each company's export holds its own pricing only
        assert len(export_pricing(session, realm_id=b.realm).splitlines()) == 3
        assert len(export_pricing(session, realm_id=a.realm).splitlines()) == 1  # the header
    assert import_pricing_file(engine, PRICES, realm_id=a.realm).errors == []  # its own Wholesale level
    with engine.connect() as connection:
        levels = set(connection.execute(sa.text("SELECT realm_id, name FROM price_levels")).all())
    assert levels == {(a.realm, "Wholesale"), (b.realm, "Wholesale")}


def test_an_order_number_two_companies_hold_is_changed_only_in_the_company_named(engine):
    for realm in ("111", "222"):
        add_named_order(engine, "SO-5", "Cool Cars", "Rocks:1", realm_id=realm, status=OrderStatus.FAILED)
    with (
        pytest.raises(OrderNotChangeable, match="2 companies have an order of that number"),
        session_scope(engine) as session,
    ):
        cancel_order(session, "SO-5", "typed twice")
    with session_scope(engine) as session:
        edit_order(session, "SO-5", memo="back door", realm_id="222")
        cancel_order(session, "SO-5", "typed twice", realm_id="111")
    with engine.connect() as connection:
        rows = set(connection.execute(sa.text("SELECT realm_id, status, memo FROM orders")).all())
    assert rows == {("111", "cancelled", None), ("222", "pending", "back door")}


def test_a_customer_made_here_for_one_company_is_created_in_that_company_only(companies, engine):
    a, b = companies["A"], companies["B"]
    with session_scope(engine) as session:
        session.add(Customer(display_name="Gamma Garden", realm_id=b.realm))
    for company in (a, b):
        push_name_list(company.gateway, engine, "Customer")
    names = {
        label: {c["DisplayName"] for c in company.sandbox.dump("Customer")["records"]}
        for label, company in companies.items()
    }
    assert "Gamma Garden" in names["B"] and "Gamma Garden" not in names["A"]
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT realm_id, qb_id FROM customers")).one()
    gamma = next(c for c in b.sandbox.dump("Customer")["records"] if c["DisplayName"] == "Gamma Garden")
    assert tuple(row) == (b.realm, gamma["Id"])

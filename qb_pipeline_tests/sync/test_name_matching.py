"""Names match by one key everywhere (orders, the pricing CSV, pull's link by name, `orders add`): ß and
ẞ are ss, the Turkish dotted capital I is i + combining dot, a decomposed é is é. Outcomes are counted in
the sandbox's dump and in the database, not through the code under test."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    Order,
    OrderStatus,
    PriceLevel,
)
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoice_draft import UNKNOWN_NAME
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.order_actions import orders_name_unknown_records, revive_orders_naming_known_records
from qb_pipeline.sync.pricing_import import import_pricing
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.fixtures.cli import invoke
from qb_pipeline_tests.fixtures.name_lists import add_customers_and_items, mirror_customers_and_items
from qb_pipeline_tests.fixtures.orders import named_order

D = Decimal
HEADER = "kind,customer,price_level,item,price,percent,valid_from"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def add_order(session, number: str, customer: str, *items: str, **fields) -> None:
    """An order naming `customer` and two of each of `items`."""
    session.add(named_order(number, customer, *(f"{item}:2" for item in items), **fields))


def test_orders_naming_a_customer_and_item_in_another_case_or_form_are_invoiced_to_them(sandbox, make_gateway, engine):
    gateway = make_gateway()
    sandbox.seed(preset="none")
    cafe = gateway.create("Customer", {"DisplayName": "Café Größe"}, request_id="name-c1")["Id"]
    izmir = gateway.create("Customer", {"DisplayName": "İzmir Ltd"}, request_id="name-c2")["Id"]
    kiste = gateway.create(
        "Item",
        {"Name": "Große Kiste", "Type": "Service", "UnitPrice": D("12.50"), "IncomeAccountRef": {"value": "2"}},
        request_id="name-i1",
    )["Id"]
    mirror_customers_and_items(gateway, engine)
    orders = {
        "N-SS": ("CAFÉ GRÖSSE", "GROSSE KISTE"),  # ß written SS
        "N-CAPITAL": ("CAFÉ GRÖẞE", "GROẞE KISTE"),  # the capital sharp s
        "N-NFD": (nfd("café größe"), nfd("Große Kiste")),  # é and ö decomposed
        "N-TURKISH": ("i\u0307zmir ltd", " große kiste "),  # i + combining dot above; surrounding spaces
    }
    with session_scope(engine) as session:
        for number, (customer, item) in orders.items():
            add_order(session, number, customer, item)
    push_orders(gateway, engine, "run-1")
    with session_scope(engine) as session:
        reasons = dict(session.execute(sa.select(Order.order_number, Order.status_reason)).all())
    invoiced = {
        invoice["DocNumber"]: (
            invoice["CustomerRef"]["value"],
            [
                line["SalesItemLineDetail"]["ItemRef"]["value"]
                for line in invoice["Line"]
                if "SalesItemLineDetail" in line
            ],
            D(str(invoice["TotalAmt"])),
        )
        for invoice in sandbox.dump("Invoice")["records"]
    }
    to_cafe = (cafe, [kiste], D("25.00"))
    expected = {"N-SS": to_cafe, "N-CAPITAL": to_cafe, "N-NFD": to_cafe, "N-TURKISH": (izmir, [kiste], D("25.00"))}
    assert invoiced == expected, reasons
    with session_scope(engine) as session:
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(Order).where(Order.status == OrderStatus.SYNCED)) == 4
        )


@pytest.fixture
def shop(engine):
    add_customers_and_items(engine, ["Café Größe", "İzmir Ltd"], {"Große Kiste": "12.50", "Öl": "3.00"})
    return engine


def test_a_due_order_naming_known_records_in_another_form_does_not_ask_for_a_pull(shop):
    with session_scope(shop) as session:
        add_order(session, "U-1", "CAFÉ GRÖSSE", nfd("öl"), "GROẞE KISTE")
        add_order(session, "U-2", "i\u0307zmir ltd", "Öl")
    assert orders_name_unknown_records(shop) is False
    with session_scope(shop) as session:
        add_order(session, "U-3", "Café Größe", "Olive Oil")  # truly unknown: a pull may bring it
    assert orders_name_unknown_records(shop) is True


def test_an_order_failed_for_an_unknown_name_goes_again_once_the_name_is_known_in_any_form(shop):
    with session_scope(shop) as session:
        waiting = {"status": OrderStatus.FAILED, "status_reason": f"customer unknown: {UNKNOWN_NAME}"}
        add_order(session, "R-1", "CAFÉ GRÖSSE", "GROẞE KISTE", nfd("ÖL"), **waiting)
        add_order(session, "R-2", "Nobody Yet", "Öl", **waiting)
    with session_scope(shop) as session:
        assert revive_orders_naming_known_records(session) == ["R-1"]
    with session_scope(shop) as session:
        assert dict(session.execute(sa.select(Order.order_number, Order.status)).all()) == {
            "R-1": OrderStatus.PENDING,
            "R-2": OrderStatus.FAILED,
        }


def test_pricing_rows_naming_customers_items_and_levels_in_another_form_apply_to_them(shop):
    rows = [
        "customer_price,CAFÉ GRÖSSE,,GROẞE KISTE,9.50,,",
        "level_percent,,STRAẞE,,,-10,",  # a new level
        f"assignment,{nfd('café größe')},strasse,,,,",  # the same level, named otherwise
        "customer_price,i\u0307zmir ltd,,öl,2.75,,",
    ]
    with session_scope(shop) as session:
        report = import_pricing(session, "\n".join([HEADER, *rows]) + "\n")
    assert (report.errors, report.applied) == ([], 4)
    with session_scope(shop) as session:
        prices = session.execute(
            sa.select(Customer.display_name, Item.name, CustomerItemPrice.unit_price)
            .join(Customer, Customer.id == CustomerItemPrice.customer_id)
            .join(Item, Item.id == CustomerItemPrice.item_id)
        ).all()
        assigned = session.execute(
            sa.select(Customer.display_name, PriceLevel.name)
            .select_from(CustomerPriceLevel)
            .join(Customer, Customer.id == CustomerPriceLevel.customer_id)
            .join(PriceLevel, PriceLevel.id == CustomerPriceLevel.price_level_id)
        ).all()
        levels = session.scalars(sa.select(PriceLevel.name)).all()
    assert sorted(prices) == [("Café Größe", "Große Kiste", D("9.50")), ("İzmir Ltd", "Öl", D("2.75"))]
    assert (assigned, levels) == ([("Café Größe", "STRAẞE")], ["STRAẞE"])


def test_pricing_rows_are_ambiguous_or_contradict_each_other_by_the_same_key(shop):
    with session_scope(shop) as session:
        session.add_all([Customer(display_name="Straße Bau"), Customer(display_name="STRASSE BAU")])
    rows = [
        "customer_price,strasse bau,,Öl,1.00,,",  # two customers have this name
        "customer_price,Café Größe,,Öl,2.00,,",
        "customer_price,CAFÉ GRÖSSE,,ÖL,2.50,,",  # the same customer and item as the line before
    ]
    with session_scope(shop) as session:
        report = import_pricing(session, "\n".join([HEADER, *rows]) + "\n")
    assert [line for line, _ in report.errors] == [2, 4], report.errors
    assert "'strasse bau' is ambiguous" in report.errors[0][1]
    assert "conflicts with line 3" in report.errors[1][1]


def test_a_pulled_record_links_the_one_unpushed_row_of_its_name_and_never_guesses_between_two(
    sandbox, make_gateway, engine
):
    gateway = make_gateway()
    sandbox.seed(preset="none")
    with session_scope(engine) as session:
        local = Customer(display_name="CAFÉ GRÖSSE")  # made here, never pushed
        twins = [Customer(display_name="Straße Bau"), Customer(display_name="STRASSE BAU")]
        session.add_all([local, *twins])
        session.flush()
        local_id, twin_ids = local.id, [twin.id for twin in twins]
    cafe = gateway.create("Customer", {"DisplayName": "Café Größe"}, request_id="link-1")["Id"]
    bau = gateway.create("Customer", {"DisplayName": "Strasse Bau"}, request_id="link-2")["Id"]
    pull_name_list(gateway, engine, "Customer")
    with session_scope(engine) as session:
        rows = dict(session.execute(sa.select(Customer.id, Customer.qb_id)).all())
    new_row = {row_id for row_id, qb_id in rows.items() if qb_id == bau}
    assert len(rows) == 4 and len(new_row) == 1  # 3 local rows, and Strasse Bau as a row of its own
    assert {row_id: rows[row_id] for row_id in [local_id, *twin_ids]} == {
        local_id: cafe,
        twin_ids[0]: None,
        twin_ids[1]: None,
    }


def run_cli(database_url: str, tmp_path, *args: str):
    return invoke(*args, env={"QB_DATABASE_URL": database_url, "QB_DATA_DIR": str(tmp_path)})


def test_orders_add_knows_a_name_in_another_form_and_warns_of_one_that_names_two(database_url, engine, tmp_path):
    add_customers_and_items(engine, ["Café Größe"], {"Große Kiste": None, "Straße Bau": None, "STRASSE BAU": None})
    known = run_cli(database_url, tmp_path, "orders", "add", "--customer", "CAFÉ GRÖSSE", "--line", "GROẞE KISTE:1")
    assert (known.returncode, known.stderr) == (0, ""), known.stdout
    twice = run_cli(database_url, tmp_path, "orders", "add", "--customer", nfd("Café Größe"), "--line", "strasse bau:1")
    assert twice.returncode == 0 and "warning: item 'strasse bau' names 2 items" in twice.stderr, twice.stderr
    assert "customer" not in twice.stderr
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 2

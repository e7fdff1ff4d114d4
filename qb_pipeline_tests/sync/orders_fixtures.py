"""Building a shop (customers, items, pricing) and orders for the invoice tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item, Order, OrderLine, PriceLevel, PriceLevelType
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import pricing
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.helpers import wait_for

D = Decimal


def build_shop(sandbox, gateway, engine, customers: int = 20, items: int = 10) -> None:
    """QuickBooks holds the customers and items; our database mirrors them and adds pricing."""
    sandbox.seed(customers=customers, items=items)
    pull_name_list(gateway, engine, "Customer")
    pull_name_list(gateway, engine, "Item")
    with session_scope(engine) as session:
        wholesale = PriceLevel(name="Wholesale", level_type=PriceLevelType.FIXED_PERCENTAGE)
        session.add(wholesale)
        session.flush()
        pricing.set_level_percentage(session, wholesale.id, D("-12.5"))
        all_customers = session.scalars(sa.select(Customer).order_by(Customer.id)).all()
        all_items = session.scalars(sa.select(Item).order_by(Item.id)).all()
        for customer in all_customers[::3]:
            pricing.assign_price_level(session, customer.id, wholesale.id)
        for customer in all_customers[1::4]:
            pricing.set_customer_item_price(session, customer.id, all_items[0].id, D("1.99"))


def hand_computed_totals(sandbox, engine) -> dict[str, Decimal]:
    """Each order's invoice total worked out here from build_shop's rules and QuickBooks' own item prices,
    not by the code under test: a customer's own price (1.99 for the first item, every fourth customer
    from the second) wins over the Wholesale level (12.5 % off, every third customer), which wins over
    the item's price; the level's price rounds half up to seven places (a unit price), each line's amount
    to the cent."""
    cent, seven_places = D("0.01"), D("0.0000001")
    quickbooks_prices = {r["Id"]: D(str(r["UnitPrice"])) for r in sandbox.dump("Item")["records"]}
    with session_scope(engine) as session:
        customers = session.scalars(sa.select(Customer.id).order_by(Customer.id)).all()
        items = session.scalars(sa.select(Item).order_by(Item.id)).all()
        price = {item.id: quickbooks_prices[item.qb_id] for item in items}
        wholesale, own_price = set(customers[::3]), set(customers[1::4])
        totals = {}
        for order in session.scalars(sa.select(Order)):
            total = D(0)
            for line in order.lines:
                if order.customer_id in own_price and line.item_id == items[0].id:
                    unit = D("1.99")
                elif order.customer_id in wholesale:
                    unit = (price[line.item_id] * D("0.875")).quantize(seven_places, ROUND_HALF_UP)
                else:
                    unit = price[line.item_id]
                total += (D(line.quantity) * unit).quantize(cent, ROUND_HALF_UP)
            totals[order.order_number] = total
    return totals


def add_orders(engine, count: int, *, lines: int = 3, prefix: str = "SO") -> list[int]:
    with session_scope(engine) as session:
        customers = session.scalars(sa.select(Customer).where(Customer.active).order_by(Customer.id)).all()
        items = session.scalars(sa.select(Item).where(Item.active).order_by(Item.id)).all()
        orders = []
        for n in range(count):
            orders.append(
                Order(
                    order_number=f"{prefix}-{n:05d}",
                    customer_id=customers[n % len(customers)].id,
                    ordered_at=utcnow(),
                    lines=[
                        OrderLine(
                            line_number=k + 1,
                            item_id=items[(n + k) % len(items)].id,
                            quantity=D(str((n + k) % 7 + 1)) / (D(2) if k == 2 else D(1)),
                        )
                        for k in range(lines)
                    ],
                )
            )
        session.add_all(orders)
        session.flush()
        return [o.id for o in orders]


def add_one_line_order(engine, number: str, quantity: str) -> int:
    """An order of one line of the first active item, for the first active customer."""
    with session_scope(engine) as session:
        customer = session.scalars(sa.select(Customer).where(Customer.active).order_by(Customer.id)).first()
        item = session.scalars(sa.select(Item).where(Item.active).order_by(Item.id)).first()
        order = Order(
            order_number=number,
            customer_id=customer.id,
            lines=[OrderLine(line_number=1, item_id=item.id, quantity=D(quantity))],
        )
        session.add(order)
        session.flush()
        return order.id


def invoices_by_doc_number(sandbox) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for record in sandbox.dump("Invoice")["records"]:
        found.setdefault(record.get("DocNumber"), []).append(record)
    return found


CRASHING_PUSH = textwrap.dedent("""
    import sys
    from qb_pipeline.db.session import make_engine
    from qb_pipeline.db.token_cipher import TokenCipher
    from qb_pipeline.quickbooks.factory import build_gateway, sandbox_settings
    from qb_pipeline.sync.invoices import Safeguards, push_orders
    from qb_pipeline_tests.sync.without_safeguards import safeguards_only
    url, key, connection_file, *names = sys.argv[1:]
    settings, _ = sandbox_settings(connection_file, timeout_seconds=120)
    gateway = build_gateway(settings, make_engine(url), TokenCipher(key))
    safeguards = Safeguards() if names == ["all"] else safeguards_only(*names)
    push_orders(gateway, make_engine(url), "doomed-run", safeguards=safeguards)
""")


def push_killed_mid_batch(
    sandbox, database_url: str, key: str, safeguards: list[str] | None = None, *, while_on_its_way=None
) -> None:
    """A push in its own process, SIGKILLed while QuickBooks holds the answer to its first batch, which
    it has already applied: no cleanup, no release of claims, the outcome recorded nowhere.
    `while_on_its_way`: called once the batch has left the push and before QuickBooks applies it (the
    batch then reaches QuickBooks 2 s late)."""
    sandbox.inject("timeout", count=1, seconds=60, path_contains="/batch")
    if while_on_its_way is not None:
        late_before = sandbox.control("GET", "inject")["injected"].get("late", 0)
        sandbox.inject("late", count=1, seconds=2, path_contains="/batch")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CRASHING_PUSH,
            database_url,
            key,
            str(sandbox.data_dir / "connection.json"),
            *(["all"] if safeguards is None else safeguards),
        ]
    )
    try:
        if while_on_its_way is not None:
            wait_for(
                lambda: sandbox.control("GET", "inject")["injected"].get("late", 0) > late_before,
                timeout=60,
                what="the first batch to leave",
                interval=0.05,
            )
            while_on_its_way()
        wait_for(
            lambda: len(sandbox.dump("Invoice")["records"]) == 30,
            timeout=60,
            what="QuickBooks to accept the first batch",
        )
    finally:
        worker.kill()  # SIGKILL
        worker.wait()
    sandbox.control("DELETE", "inject")

"""Building a shop (customers, items, pricing) and orders for the invoice tests."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from qb_pipeline.db.models import Customer, Item, Order, OrderLine, PriceLevel, PriceLevelType
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync import pricing
from qb_pipeline.sync.pull import pull_name_list

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


def add_orders(engine, count: int, *, lines: int = 3, prefix: str = "SO") -> list[int]:
    with session_scope(engine) as session:
        customers = session.scalars(sa.select(Customer).where(Customer.active).order_by(Customer.id)).all()
        items = session.scalars(sa.select(Item).where(Item.active).order_by(Item.id)).all()
        orders = []
        for n in range(count):
            orders.append(Order(
                order_number=f"{prefix}-{n:05d}", customer_id=customers[n % len(customers)].id, ordered_at=utcnow(),
                lines=[OrderLine(line_number=k + 1, item_id=items[(n + k) % len(items)].id,
                                 quantity=D(str((n + k) % 7 + 1)) / (D(2) if k == 2 else D(1)))
                       for k in range(lines)],
            ))
        session.add_all(orders)
        session.flush()
        return [o.id for o in orders]


def invoices_by_doc_number(sandbox) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for record in sandbox.dump("Invoice")["records"]:
        found.setdefault(record.get("DocNumber"), []).append(record)
    return found

"""The demo order generator writes orders a sync can invoice: active demo customers and items."""

import sqlalchemy as sa

from qb_pipeline.db.models import Order
from qb_pipeline.db.session import session_scope
from qb_pipeline.demo import DemoOrders
from qb_pipeline.sandbox.seed import DEMO_CUSTOMERS, DEMO_INACTIVE_EVERY


def test_demo_orders_name_active_demo_customers(engine):
    demo = DemoOrders(engine, per_minute=60, seed=7)
    numbers = [demo.add_one() for _ in range(30)]
    inactive = {name for n, name in enumerate(DEMO_CUSTOMERS) if n % DEMO_INACTIVE_EVERY == DEMO_INACTIVE_EVERY - 1}
    with session_scope(engine) as session:
        orders = session.scalars(sa.select(Order)).all()
        assert sorted(o.order_number for o in orders) == sorted(numbers) and len(set(numbers)) == 30
        assert all(o.customer_name in DEMO_CUSTOMERS and o.customer_name not in inactive for o in orders)
        assert all(1 <= len(o.lines) <= 3 and all(line.quantity > 0 for line in o.lines) for o in orders)

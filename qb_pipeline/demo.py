"""Demo orders for `make dev` (QB_DEMO_ORDERS_PER_MINUTE): orders flowing in as an order app would write them.

Customers and items are the sandbox's active demo records, named as the order app would name them.
"""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import sqlalchemy as sa

from qb_pipeline.db.models import Order, OrderLine
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sandbox.seed import DEMO_CUSTOMERS, DEMO_INACTIVE_EVERY, DEMO_ITEMS


def _active(names: list) -> list:
    return [name for n, name in enumerate(names) if n % DEMO_INACTIVE_EVERY != DEMO_INACTIVE_EVERY - 1]


class DemoOrders:
    def __init__(self, engine: sa.Engine, per_minute: float, seed: int | None = None) -> None:
        if per_minute <= 0:
            raise ValueError("QB_DEMO_ORDERS_PER_MINUTE must be above 0 to generate orders")
        self.engine, self.interval = engine, 60.0 / per_minute
        self.random = random.Random(seed)
        self.customers, self.items = _active(DEMO_CUSTOMERS), [name for name, _ in _active(DEMO_ITEMS)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-orders", daemon=True)
        self.created = 0

    def add_one(self) -> str:
        number = f"DEMO-{utcnow():%m%d%H%M%S}-{self.created % 100:02d}"
        lines = [
            OrderLine(line_number=n, item_name=item, quantity=Decimal(self.random.randint(1, 5)))
            for n, item in enumerate(self.random.sample(self.items, self.random.randint(1, 3)), start=1)
        ]
        with session_scope(self.engine) as session:
            session.add(Order(order_number=number, customer_name=self.random.choice(self.customers), lines=lines))
        self.created += 1
        return number

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.add_one()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

"""A large pricing import as a person runs it (`qb-pipeline pricing import`, a real process): other writers
go on during it, it applies all or nothing, and two at once on PostgreSQL leave one open price per key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, CustomerItemPrice, Item, Order
from qb_pipeline.db.pricing_imports import PricingImportRow
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import utcnow

CLI = [sys.executable, "-m", "qb_pipeline.cli"]
HEADER = "kind,customer,price_level,item,price,percent,valid_from\n"


def shop(engine: sa.Engine, customers: list[str], items: int) -> None:
    with session_scope(engine) as session:
        session.add_all(Customer(display_name=name) for name in customers)
        session.add_all(Item(name=f"Item {n}", unit_price=Decimal("5.00")) for n in range(items))


def price_file(path: Path, customers: list[str], items: int, price: str) -> Path:
    with path.open("w") as file:
        file.write(HEADER)
        for customer in customers:
            file.writelines(f"customer_price,{customer},,Item {n},{price},,\n" for n in range(items))
    return path


def start_import(database_url: str, path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "QB_DATA_DIR")}
    return subprocess.Popen(
        [*CLI, "pricing", "import", str(path)],
        env={**env, "QB_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def count(engine: sa.Engine, statement) -> int:
    with engine.connect() as connection:
        return connection.scalar(statement)


OPEN_PRICES = sa.select(sa.func.count()).select_from(CustomerItemPrice).where(CustomerItemPrice.valid_to.is_(None))
STAGED = sa.select(sa.func.count()).select_from(PricingImportRow)


HISTORY = sa.select(sa.func.count()).select_from(CustomerItemPrice)


def wait_until_written(engine: sa.Engine, process: subprocess.Popen) -> bool:
    """Wait until the running import has written something (staged rows, or prices); False if it ended first."""
    while process.poll() is None:
        if count(engine, STAGED) or count(engine, HISTORY):
            return True
        time.sleep(0.01)
    return False


CUSTOMERS = [f"Customer {n}" for n in range(200)]
ITEMS = 200  # 40,000 rows: long enough to be caught half-way


def test_orders_are_written_while_a_large_import_runs(database_url, tmp_path):
    engine = make_engine(database_url)
    shop(engine, CUSTOMERS, ITEMS)
    process = start_import(database_url, price_file(tmp_path / "prices.csv", CUSTOMERS, ITEMS, "9.50"))
    try:
        assert wait_until_written(engine, process), process.communicate()
        with session_scope(engine) as session:  # what a push or the order-entry app does meanwhile
            customer_id = session.scalar(sa.select(Customer.id).limit(1))
            session.add(Order(order_number="DURING-1", customer_id=customer_id, ordered_at=utcnow()))
            session.flush()
            prices_in_force = session.scalar(OPEN_PRICES)
        assert prices_in_force == 0, "the order was written only after the import had finished"
        _out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert count(engine, OPEN_PRICES) == len(CUSTOMERS) * ITEMS
    assert count(engine, sa.select(sa.func.count()).select_from(Order)) == 1
    assert count(engine, STAGED) == 0
    engine.dispose()


def test_an_import_stopped_half_way_applies_nothing_and_the_next_applies_all(database_url, tmp_path):
    engine = make_engine(database_url)
    shop(engine, CUSTOMERS, ITEMS)
    prices = price_file(tmp_path / "prices.csv", CUSTOMERS, ITEMS, "9.50")
    process = start_import(database_url, prices)
    try:
        assert wait_until_written(engine, process), process.communicate()
        process.send_signal(signal.SIGKILL)  # a crash, a reboot, the power
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    assert count(engine, HISTORY) == 0
    assert count(engine, STAGED) > 0  # it had got half-way
    again = start_import(database_url, prices)
    _out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert count(engine, HISTORY) == count(engine, OPEN_PRICES) == len(CUSTOMERS) * ITEMS
    engine.dispose()


@pytest.fixture(params=["with the exclusion constraint", "without it (no btree_gist)"])
def postgres_url(request, postgres_database_factory):
    if postgres_database_factory is None:
        pytest.skip("PostgreSQL only: set QB_TEST_POSTGRES_URL")
    from qb_pipeline.db.migrate import upgrade

    url = postgres_database_factory()
    upgrade(url)
    engine = make_engine(url)
    constraint = sa.text("SELECT count(*) FROM pg_constraint WHERE conname = 'ex_customer_item_prices_no_overlap'")
    if request.param.startswith("without"):
        with session_scope(engine) as session:
            session.execute(
                sa.text("ALTER TABLE customer_item_prices DROP CONSTRAINT ex_customer_item_prices_no_overlap")
            )
    assert count(engine, constraint) == (0 if request.param.startswith("without") else 1)
    engine.dispose()
    return url


def test_two_imports_at_once_leave_one_open_price_per_customer_and_item(postgres_url, tmp_path):
    engine = make_engine(postgres_url)
    shared, only_a, only_b = CUSTOMERS[:100], ["Only A"], ["Only B"]
    shop(engine, shared + only_a + only_b, ITEMS)
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    price_file(first, shared + only_a, ITEMS, "10.00")
    price_file(second, shared + only_b, ITEMS, "11.00")
    processes = [start_import(postgres_url, first), start_import(postgres_url, second)]
    outcomes = [process.communicate(timeout=600) for process in processes]
    for process, (_out, err) in zip(processes, outcomes, strict=True):
        assert "Traceback" not in err, err
        assert process.returncode == 0, err
    with engine.connect() as connection:
        doubled = connection.execute(
            sa.select(CustomerItemPrice.customer_id, CustomerItemPrice.item_id)
            .where(CustomerItemPrice.valid_to.is_(None))
            .group_by(CustomerItemPrice.customer_id, CustomerItemPrice.item_id)
            .having(sa.func.count() > 1)
        ).all()
        overlapping = connection.scalar(
            sa.text(
                "SELECT count(*) FROM customer_item_prices a JOIN customer_item_prices b "
                "ON a.customer_id = b.customer_id AND a.item_id = b.item_id AND a.id < b.id "
                "AND tstzrange(a.valid_from, a.valid_to, '[)') && tstzrange(b.valid_from, b.valid_to, '[)')"
            )
        )
    assert doubled == [] and overlapping == 0
    # every key has one open price, the unrelated rows of each file included
    assert count(engine, OPEN_PRICES) == (len(shared) + 2) * ITEMS
    engine.dispose()


def test_orders_are_written_while_an_export_is_read_slowly(database_url, tmp_path):
    """`pricing export | less`, the reader not scrolling: the export waits on the pipe, its reading transaction
    open. A push, with little patience for a lock, still writes its order."""
    engine = make_engine(database_url)
    customers = [f"Customer {n}" for n in range(60)]
    shop(engine, customers, 50)  # 3,000 prices: more than a pipe holds
    imported = start_import(database_url, price_file(tmp_path / "prices.csv", customers, 50, "9.50"))
    _out, err = imported.communicate(timeout=300)
    assert imported.returncode == 0, err
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "QB_DATA_DIR")}
    export = subprocess.Popen(
        [*CLI, "pricing", "export"],
        env={**env, "QB_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert export.stdout.readline().startswith("kind,"), export.communicate()  # it is reading, then stops
        impatient = make_engine(database_url)
        if impatient.dialect.name == "sqlite":
            sa.event.listen(impatient, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=2000"))
        with session_scope(impatient) as session:
            customer_id = session.scalar(sa.select(Customer.id).limit(1))
            session.add(Order(order_number="DURING-EXPORT", customer_id=customer_id, ordered_at=utcnow()))
        impatient.dispose()
        rest, err = export.communicate(timeout=120)
    finally:
        if export.poll() is None:
            export.kill()
    assert export.returncode == 0, err
    assert len(rest.splitlines()) == len(customers) * 50  # the export went on to the end
    assert (
        count(engine, sa.select(sa.func.count()).select_from(Order).where(Order.order_number == "DURING-EXPORT")) == 1
    )
    engine.dispose()

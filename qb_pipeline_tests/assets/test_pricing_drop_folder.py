"""The pricing drop folder as a person uses it: files dropped in QB_PRICING_DROP_DIR, taken by the real
`price_levels` asset (dg.materialize) on a real database; outcomes counted from the database and the folder."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.db import session as db_session
from qb_pipeline.db.models import Customer, CustomerItemPrice, Item
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline_tests.fixtures.dagster_resources import with_drop_folder
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company

HEADER = "kind,customer,price_level,item,price,percent,valid_from\n"


@pytest.fixture
def drop(sandbox, resources, tmp_path):
    """A drop folder, with the demo company's customers and items pulled into the database."""
    sandbox.seed(preset="demo")
    assert materialize_company([customers, items], resources=resources).success
    folder = tmp_path / "pricing"
    folder.mkdir()
    return folder


def dropped_long_ago(path, text: str) -> None:
    """A file written and left alone for a minute (so no settling wait applies to it)."""
    path.write_text(text, encoding="utf-8")
    old = time.time() - 60
    os.utime(path, (old, old))


def customer_prices(database_url) -> dict[tuple[str, str], Decimal]:
    """The customer prices in force, read straight from the tables."""
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            rows = session.execute(
                sa.select(Customer.display_name, Item.name, CustomerItemPrice.unit_price)
                .join(Customer, Customer.id == CustomerItemPrice.customer_id)
                .join(Item, Item.id == CustomerItemPrice.item_id)
                .where(CustomerItemPrice.valid_to.is_(None))
            )
            return {(customer, item): price for customer, item, price in rows}
    finally:
        engine.dispose()


# Holds the database's write lock from another process (SQLite: BEGIN IMMEDIATE; PostgreSQL: an exclusive lock
# on customers, and the session that waits on it is terminated, as a server restart or failover would) until
# the dropped file leaves the folder or the test says so.
LOCK_HOLDER = r"""
import os, sys, time
url, watched, release = sys.argv[1:4]
url = url.replace("postgresql+psycopg2://", "postgresql://")
if url.startswith("sqlite"):
    import sqlite3
    connection = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    terminate = None
else:
    import psycopg2
    connection = psycopg2.connect(url)
    connection.cursor().execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
    watcher = psycopg2.connect(url)
    watcher.autocommit = True
    def terminate():
        cursor = watcher.cursor()
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
print("locked", flush=True)
deadline = time.monotonic() + 120
while os.path.exists(watched) and not os.path.exists(release) and time.monotonic() < deadline:
    if terminate:
        terminate()
    time.sleep(0.05)
connection.rollback()
"""


def test_a_passing_database_lock_keeps_a_good_file_for_the_next_run_and_fails_the_run(
    drop, resources, database_url, monkeypatch, tmp_path
):
    resources = with_drop_folder(resources, drop)
    good = drop / "prices.csv"
    dropped_long_ago(good, HEADER + "customer_price,Cool Cars,,Rocks,8.00,,\n")
    # SQLite gives up on a held lock after its busy timeout: one second here instead of thirty.
    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    db_session.engine_for.cache_clear()
    release = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, database_url, str(good), str(release)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        locked_run = materialize_company([price_levels], resources=resources, raise_on_error=False)
    finally:
        release.touch()
        holder.wait(timeout=60)
    db_session.engine_for.cache_clear()

    assert not locked_run.success  # not green: the file was not imported
    (failure,) = [event for event in locked_run.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "prices.csv" in message and "kept" in message and "next run" in message
    assert good.exists() and not (drop / "rejected").exists()  # left where it was, not rejected for good
    assert customer_prices(database_url) == {}

    again = materialize_company([price_levels], resources=resources)  # the lock has passed: the next run takes it
    assert again.success
    assert customer_prices(database_url) == {("Cool Cars", "Rocks"): Decimal("8.00")}
    assert [p.name.split("-", 1)[1] for p in (drop / "processed").iterdir()] == ["prices.csv"]


def test_a_file_still_being_written_waits_for_the_next_run(drop, resources, database_url):
    resources = with_drop_folder(resources, drop)
    growing = drop / "prices.csv"
    first_row = "customer_price,Cool Cars,,Rocks,8.00,,\n"
    done = threading.Event()

    def slow_writer() -> None:  # a copy over a slow share: a row now and then, the last one when it is done
        with growing.open("w", encoding="utf-8") as file:
            file.write(HEADER + first_row)
            file.flush()
            while not done.wait(0.2):
                file.write(first_row)  # the same row again: a no-op, so the file stays good whenever it is cut
                file.flush()
            file.write("customer_price,Cool Cars,,Sod,4.00,,\n")

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        time.sleep(0.5)
        while_written = materialize_company([price_levels], resources=resources)
    finally:
        done.set()
        writer.join()

    assert while_written.success  # a file being written is normal, not a failure
    assert growing.exists() and customer_prices(database_url) == {}  # not half-imported
    time.sleep(2.5)  # the default QB_PRICING_SETTLE_SECONDS (2) after its last write
    assert materialize_company([price_levels], resources=resources).success
    assert customer_prices(database_url) == {
        ("Cool Cars", "Rocks"): Decimal("8.00"),
        ("Cool Cars", "Sod"): Decimal("4.00"),
    }


def test_upper_case_csv_is_taken_and_quote_and_separator_mistakes_are_named(drop, resources, database_url):
    resources = with_drop_folder(resources, drop)
    dropped_long_ago(drop / "1-EXCEL.CSV", HEADER + "customer_price,Cool Cars,,Rocks,8.00,,\n")
    dropped_long_ago(
        drop / "2-quote.csv",
        HEADER + "customer_price,Cool Cars,,Sod,4.00,,\n"
        "customer_price,\"Amy's Bird Sanctuary,,Rocks,7.00,,\n"
        "customer_price,Cool Cars,,Rocks,9.00,,\n",
    )
    dropped_long_ago(drop / "3-semicolons.csv", HEADER.replace(",", ";") + "customer_price;Cool Cars;;Sod;4,00;;\n")
    result = materialize_company([price_levels], resources=resources)
    assert result.success

    assert [p.name.split("-", 1)[1] for p in (drop / "processed").iterdir()] == ["1-EXCEL.CSV"]
    assert customer_prices(database_url) == {("Cool Cars", "Rocks"): Decimal("8.00")}
    reasons = {p.name.split("-", 1)[1]: p.read_text() for p in (drop / "rejected").glob("*.reason.txt")}
    assert reasons.keys() == {"2-quote.csv.reason.txt", "3-semicolons.csv.reason.txt"}
    assert "unclosed quote starting on line 3" in reasons["2-quote.csv.reason.txt"]
    assert "thousands" not in reasons["2-quote.csv.reason.txt"]
    assert "the file is separated by ';'" in reasons["3-semicolons.csv.reason.txt"]
    assert "use commas" in reasons["3-semicolons.csv.reason.txt"]

"""Customers and items both ways, against the sandbox: full pull, incremental pull, push and link."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from quickbooks.objects.customer import Customer as QBCustomer

from qb_pipeline.db import queries
from qb_pipeline.db.models import Customer, Item, SyncCursor, SyncState
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.throttle import Throttle
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline.sync.push import push_name_list
from qb_pipeline.sync.records import customer_row
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer


@pytest.fixture
def gateway(make_gateway):
    return make_gateway()


def local_mirror(engine, model):
    with session_scope(engine) as session:
        return {row.qb_id: row for row in session.scalars(sa.select(model))}


def assert_mirror_matches_sandbox(engine, sandbox, model, entity, name_field, name_column):
    records = sandbox.dump(entity)["records"]
    mirror = local_mirror(engine, model)
    assert set(mirror) == {r["Id"] for r in records}
    for record in records:
        row = mirror[record["Id"]]
        assert (getattr(row, name_column), row.active, row.qb_sync_token) == (
            record[name_field],
            record["Active"],
            record["SyncToken"],
        )


def test_full_then_incremental_pull_matches_quickbooks_with_few_calls(sandbox, gateway, engine):
    sandbox.seed(customers=2500, items=300)
    time.sleep(2.1)  # QBO times have whole seconds: keep the seed out of the next pull's 1 s overlap
    first = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1))
    pull_name_list(gateway, engine, "Item", overlap=timedelta(seconds=1))
    assert (first.mode, first.pulled, first.new) == ("full", 2500, 2500)

    qb = sandbox.qb_client()
    records = sandbox.dump("Customer")["records"]
    for record in records[:7]:
        c = QBCustomer.get(record["Id"], qb=qb)
        c.CompanyName = "Changed Inc"
        c.save(qb=qb)
    for record in records[7:9]:
        c = QBCustomer.get(record["Id"], qb=qb)
        c.Active = False
        c.save(qb=qb)
    for n in range(3):
        make_customer(qb, f"Brand New {n}")

    sandbox.reset_counters()
    second = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1))
    pull_name_list(gateway, engine, "Item", overlap=timedelta(seconds=1))
    calls = sandbox.counters()["calls"]
    assert second.mode == "cdc" and second.new == 3
    assert sum(calls.values()) <= 3, calls  # one CDC call per entity
    assert_mirror_matches_sandbox(engine, sandbox, Customer, "Customer", "DisplayName", "display_name")
    assert_mirror_matches_sandbox(engine, sandbox, Item, "Item", "Name", "name")
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).where(Customer.company_name == "Changed Inc")) == 7
        assert session.scalar(sa.select(sa.func.count()).where(Customer.active.is_(False))) == 2


@pytest.fixture
def already_there(sandbox, gateway, engine) -> dict:
    """Rows made here only: a new customer, one QuickBooks has already (in another case), one with a name
    QuickBooks refuses, and an item. QuickBooks' record of the customer it has already."""
    sandbox.seed(preset="none")
    existing = gateway.create("Customer", {"DisplayName": "Already There"}, request_id="x-1")
    with session_scope(engine) as session:
        session.add_all(
            [
                Customer(display_name="New Local", email="ap@new.example"),
                Customer(display_name="already there"),  # same customer, made in both places
                Customer(display_name="Bad: Name"),
                Item(name="Local Widget", unit_price=Decimal("12.50")),
            ]
        )
    return existing


def test_local_rows_are_created_linked_or_refused_with_quickbooks_reason(already_there, sandbox, gateway, engine):
    result = push_name_list(gateway, engine, "Customer")
    assert (result.created, result.linked, result.failed) == (1, 1, 1)
    assert "Bad: Name" in result.errors[0] and "code 2050" in result.errors[0]
    items = push_name_list(gateway, engine, "Item", default_income_account_id="2")
    assert items.created == 1
    mirror = local_mirror(engine, Customer)
    linked = mirror[already_there["Id"]]
    assert linked.display_name == "already there" and linked.sync_state == SyncState.SYNCED
    assert {r["DisplayName"] for r in sandbox.dump("Customer")["records"]} == {"Already There", "New Local"}


def test_a_second_push_sends_nothing(already_there, sandbox, gateway, engine):
    push_name_list(gateway, engine, "Customer")
    sandbox.reset_counters()
    again = push_name_list(gateway, engine, "Customer")
    assert (again.created, again.updated, again.failed) == (0, 0, 0)
    assert sandbox.counters()["total"] == 0


def test_a_local_item_whose_name_quickbooks_has_is_linked_not_made_twice(sandbox, gateway, engine):
    """QuickBooks refuses an item whose name is taken with 6240, as it does a customer's."""
    sandbox.seed(preset="none")
    existing = gateway.create("Item", {"Name": "Made Twice", "IncomeAccountRef": {"value": "2"}}, request_id="x-2")
    with session_scope(engine) as session:
        session.add(Item(name="Made Twice", unit_price=Decimal("3.00")))
    items = push_name_list(gateway, engine, "Item", default_income_account_id="2")
    assert (items.created, items.linked, items.failed) == (0, 1, 0), items.errors
    assert [r["Name"] for r in sandbox.dump("Item")["records"]] == ["Made Twice"]
    assert local_mirror(engine, Item)[existing["Id"]].sync_state == SyncState.SYNCED


@pytest.fixture
def edited_both_sides(sandbox, gateway, engine) -> tuple[str, str]:
    """Two customers pulled and given a phone here, the second edited in QuickBooks meanwhile: their ids."""
    sandbox.seed(customers=2)
    pull_name_list(gateway, engine, "Customer")
    first, second = sorted(local_mirror(engine, Customer))
    with session_scope(engine) as session:
        for qb_id, phone in ((first, "555-0001"), (second, "555-0002")):
            row = session.scalars(sa.select(Customer).where(Customer.qb_id == qb_id)).one()
            row.phone, row.local_updated_at = phone, utcnow()
    # Meanwhile someone edits the second customer in QuickBooks.
    qb = sandbox.qb_client()
    theirs = QBCustomer.get(second, qb=qb)
    theirs.CompanyName = "Edited in QuickBooks"
    theirs.save(qb=qb)
    return first, second


def test_a_local_edit_is_sent_as_a_sparse_update(edited_both_sides, sandbox, gateway, engine):
    first, _second = edited_both_sides
    pull_name_list(gateway, engine, "Customer")
    pushed = push_name_list(gateway, engine, "Customer")
    assert pushed.updated == 1
    records = {r["Id"]: r for r in sandbox.dump("Customer")["records"]}
    assert records[first]["PrimaryPhone"]["FreeFormNumber"] == "555-0001"


def test_an_edit_on_both_sides_keeps_the_quickbooks_version_and_says_so(edited_both_sides, sandbox, gateway, engine):
    _first, second = edited_both_sides
    pulled = pull_name_list(gateway, engine, "Customer")
    assert len(pulled.conflicts) == 1 and "kept the QuickBooks version" in pulled.conflicts[0]
    push_name_list(gateway, engine, "Customer")
    records = {r["Id"]: r for r in sandbox.dump("Customer")["records"]}
    assert "PrimaryPhone" not in records[second] and records[second]["CompanyName"] == "Edited in QuickBooks"


def test_overlap_reread_does_not_wipe_a_pending_local_edit(sandbox, gateway, engine):
    sandbox.seed(customers=1)
    pull_name_list(gateway, engine, "Customer")
    with session_scope(engine) as session:
        row = session.scalars(sa.select(Customer)).one()
        row.phone, row.local_updated_at = "555-0100", utcnow()
    pull_name_list(gateway, engine, "Customer")  # re-reads the unchanged record in the overlap window
    assert push_name_list(gateway, engine, "Customer").updated == 1


def test_customer_row_mapping_of_a_real_record(sandbox, gateway):
    record = gateway.create(
        "Customer", {"DisplayName": "Mapped", "PrimaryEmailAddr": {"Address": "m@x.example"}}, request_id="m-1"
    )
    row = customer_row(record)
    assert row["email"] == "m@x.example" and row["qb_updated_at"].tzinfo is not None


@pytest.fixture
def pulled_1500(sandbox, gateway, engine) -> None:
    """1500 customers in QuickBooks, pulled in full a moment ago (all of them inside the next pull's overlap)."""
    sandbox.seed(customers=1500)
    pull_name_list(gateway, engine, "Customer")


def test_more_changes_than_cdc_answers_are_paged_instead(pulled_1500, gateway, engine):
    # All 1500 are inside the overlap window: CDC answers its 1000-object cap, so the pull pages instead.
    capped = pull_name_list(gateway, engine, "Customer")
    assert (capped.mode, capped.pulled) == ("query", 1500)
    assert len(local_mirror(engine, Customer)) == 1500


def test_a_cursor_older_than_cdc_reaches_is_paged_instead(pulled_1500, gateway, engine):
    with session_scope(engine) as session:
        session.execute(sa.update(SyncCursor).values(covered_until=utcnow() - timedelta(days=40)))
    stale = pull_name_list(gateway, engine, "Customer")
    assert stale.mode == "query"
    assert len(local_mirror(engine, Customer)) == 1500


def test_overlapped_full_pull_under_faults_and_429s_writes_every_record_once_and_moves_the_cursor(
    sandbox, gateway, engine
):
    sandbox.seed(customers=6_500)
    gateway.retries = 6
    gateway.throttle = Throttle({"second": 10**6, "minute": 10**6, "batch_minute": 10**6, "concurrent": 100})
    gateway.sleep.cap = None  # honour Retry-After, or the retry is throttled again
    sandbox.settings(limits="scaled:0.5", latency_ms=150)  # QuickBooks' limits at half: 5 at once, 5 per second
    for kind in ("503", "timeout", "drop"):
        sandbox.inject(kind, count=1, seconds=7, path_contains="/query")
    started = utcnow()
    try:
        result = pull_name_list(gateway, engine, "Customer", now=started)
        calls = sandbox.counters()["calls"]
    finally:
        sandbox.settings(limits="off", latency_ms=0)
    assert (result.mode, result.pulled, result.new) == ("full", 6_500, 6_500)
    assert calls.get("query 429", 0) >= 1  # the limits did bite
    assert_mirror_matches_sandbox(engine, sandbox, Customer, "Customer", "DisplayName", "display_name")
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 6_500  # none twice
        assert queries.read_cursor(session, gateway.realm_id, "Customer") == started


def test_records_created_during_an_overlapped_pull_are_in_the_mirror_after_the_next_pull(sandbox, gateway, engine):
    """The page past the count may be read before they exist; the next run's CDC overlap brings them."""
    sandbox.seed(customers=3_000)  # the count fills its last page: the page past it goes with the others
    time.sleep(2.1)  # QBO times have whole seconds: keep the seed out of the next pull's 1 s overlap
    created = []

    def create_once(_message: str) -> None:
        if not created:
            sandbox.seed(customers=10)
            created.append(10)
            time.sleep(2.5)  # a long pull: its end is seconds past the records' creation

    first = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1), progress=create_once)
    assert created and first.pulled >= 3_000
    time.sleep(1.1)
    second = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1))
    assert second.mode == "cdc"
    assert_mirror_matches_sandbox(engine, sandbox, Customer, "Customer", "DisplayName", "display_name")
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 3_010


def test_a_first_pull_leaves_postgresql_statistics_that_know_the_rows_it_wrote(sandbox, gateway, engine):
    """Without them PostgreSQL's planner took a growing table for a nearly empty one and looked each
    page's rows up by reading all of it (an ANALYZE at 1,000 rows pulled, 2,000, 4,000 …)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner finds a page's rows by their unique index whatever its statistics")
    sandbox.seed(customers=2500, items=0)
    assert pull_name_list(gateway, engine, "Customer").pulled == 2500
    with session_scope(engine) as session:
        estimate = session.execute(sa.text("EXPLAIN (FORMAT JSON) SELECT id FROM customers")).scalar_one()[0]
    assert estimate["Plan"]["Plan Rows"] >= 2000

"""`invoices` and `price_levels` materialized with real Dagster against the sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from quickbooks.objects.customer import Customer as QBCustomer
from quickbooks.objects.invoice import Invoice

from qb_pipeline.assets.health import sync_health, sync_health_24h
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.checks import invoice_checks, quickbooks_connection
from qb_pipeline.db import queries
from qb_pipeline.db.models import Item, Order, OrderLine, SyncLog
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.jobs import retry_orders_job
from qb_pipeline.resources import QuickBooksResource
from qb_pipeline_tests.fixtures.dagster_resources import with_drop_folder
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.name_lists import customer_named
from qb_pipeline_tests.fixtures.orders import add_named_order, add_orders, build_shop
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, pay

ALL = [customers, items, price_levels, invoices, invoice_checks]
HEADER = "kind,customer,price_level,item,price,percent,valid_from\n"


def failed_orders_check(result):
    """The no_failed_orders check's evaluation in `result` (a run of the invoices checks)."""
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "no_failed_orders")


def sandbox_invoices(sandbox) -> list[str]:
    """The DocNumbers of QuickBooks' invoices, from the sandbox's own dump."""
    return sorted(r["DocNumber"] for r in sandbox.dump("Invoice")["records"])


@pytest.fixture
def demo_synced(sandbox, resources, database_url):
    """The demo company in QuickBooks, its customers and items materialized here; the project database."""
    sandbox.seed(preset="demo")
    assert materialize_company([customers, items], resources=resources).success
    return make_engine(database_url)


@pytest.fixture
def cool_cars_at_8_from_a_drop(demo_synced, resources, tmp_path):
    """A drop folder holding a file that prices Rocks at 8.00 for Cool Cars and one naming a customer nobody
    has, taken by a `price_levels` run: (that run, the resources with the drop folder, the folder)."""
    drop = tmp_path / "pricing"
    drop.mkdir()
    (drop / "prices.csv").write_text(HEADER + "customer_price,Cool Cars,,Rocks,8.00,,\n")
    (drop / "typo.csv").write_text(HEADER + "customer_price,Nobody,,Rocks,8.00,,\n")
    resources = with_drop_folder(resources, drop)
    return materialize_company([price_levels], resources=resources), resources, drop


def test_a_dropped_pricing_file_is_applied_its_bad_rows_counted_and_the_files_moved(
    cool_cars_at_8_from_a_drop, demo_synced
):
    pricing_run, _resources, drop = cool_cars_at_8_from_a_drop
    assert metadata_of(pricing_run, "price_levels")["changes_this_run"] == 1
    assert metadata_of(pricing_run, "price_levels")["rejected_rows"] == 1
    assert (drop / "processed").is_dir() and not list(drop.glob("*.csv"))
    with session_scope(demo_synced) as session:
        assert "PRICING" in session.scalars(sa.select(SyncLog.entity)).all()


def test_an_order_placed_after_a_dropped_price_is_invoiced_at_it(cool_cars_at_8_from_a_drop, demo_synced, sandbox):
    _pricing_run, resources, _drop = cool_cars_at_8_from_a_drop
    add_named_order(demo_synced, "WEB-1", "Cool Cars", "Rocks:3")
    assert metadata_of(materialize_company([invoices], resources=resources), "invoices")["pushed"] == 1
    (invoice,) = sandbox.dump("Invoice")["records"]
    assert invoice["DocNumber"] == "WEB-1" and invoice["TotalAmt"] == 24.0  # 3 × the customer's 8.00


def test_an_order_for_an_unknown_customer_fails_alone_and_every_check_passes(demo_synced, resources):
    add_named_order(demo_synced, "WEB-1", "Cool Cars", "Rocks:3")
    add_named_order(demo_synced, "WEB-2", "Nobody Inc", "Rocks:1")
    result = materialize_company(ALL, resources=resources)
    assert result.success
    numbers = metadata_of(result, "invoices")
    assert (numbers["pushed"], numbers["failed"], numbers["pending_after_run"]) == (1, 1, 0)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "orders_not_waiting": True,
        "invoice_totals_reconcile": True,
        "unique_doc_numbers": True,
        "no_failed_orders": False,  # the one order that failed waits for a person
    }
    # five steps: the three syncs, the push, and the invoices' four checks in one
    assert sum(1 for e in result.all_events if e.event_type_value == "STEP_START") == 5


def test_an_invoice_voided_in_quickbooks_is_flagged_and_its_order_not_pushed_again(demo_synced, resources, sandbox):
    add_named_order(demo_synced, "WEB-1", "Cool Cars", "Rocks:3")
    assert metadata_of(materialize_company([invoices], resources=resources), "invoices")["pushed"] == 1
    (invoice,) = sandbox.dump("Invoice")["records"]
    qb = sandbox.qb_client()
    Invoice.get(invoice["Id"], qb=qb).void(qb=qb)
    again = materialize_company([invoices], resources=resources)
    assert metadata_of(again, "invoices")["voided_or_deleted_flagged"] == 1
    with session_scope(demo_synced) as session:
        order = session.scalars(sa.select(Order).where(Order.order_number == "WEB-1")).one()
        assert (order.status.value, order.qb_invoice_state) == ("synced", "voided")
        log = [r.entity for r in session.scalars(sa.select(SyncLog).order_by(SyncLog.id))]
    assert log.count("INVOICES") == 2
    assert len(sandbox.dump("Invoice")["records"]) == 1  # the voided order was not pushed again


def test_an_order_for_a_local_item_creates_the_item_first(sandbox, resources, database_url):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    assert materialize_company([customers], resources=resources).success
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number="WEB-9",
                customer_id=customer_named(session, "Cool Cars").id,
                lines=[
                    OrderLine(
                        line_number=1, item=Item(name="Local Gizmo", unit_price=Decimal("4.25")), quantity=Decimal("2")
                    )
                ],
            )
        )
    result = materialize_company([invoices], resources=resources)
    assert metadata_of(result, "invoices")["pushed"] == 1
    gizmo = next(r for r in sandbox.dump("Item")["records"] if r["Name"] == "Local Gizmo")
    assert gizmo["IncomeAccountRef"]["value"] == "1"  # QuickBooks' first income account
    assert sandbox.dump("Invoice")["records"][0]["TotalAmt"] == 8.5


def test_an_order_naming_a_customer_not_mirrored_yet_pulls_it_first(sandbox, resources, database_url):
    sandbox.seed(preset="demo")  # in QuickBooks, never synced here
    add_named_order(make_engine(database_url), "WEB-20", "cool cars", "Rocks:2")
    result = materialize_company([invoices], resources=resources)
    assert metadata_of(result, "invoices")["pushed"] == 1
    assert sandbox.dump("Invoice")["records"][0]["TotalAmt"] == 19.9


def test_qb_batch_size_sets_how_many_invoices_go_in_one_batch_call(sandbox, resources, database_url, make_gateway):
    engine = make_engine(database_url)
    fixture = resources["quickbooks"]
    build_shop(sandbox, make_gateway(key=fixture.token_key), engine)  # the runs' tokens, in the same table
    add_orders(engine, 25, prefix="BS")
    sandbox.reset_counters()
    resized = QuickBooksResource(  # as QB_BATCH_SIZE=10 makes it
        database=resources["database"],
        sandbox_connection_file=fixture.sandbox_connection_file,
        token_key=fixture.token_key,
        timeout_seconds=fixture.timeout_seconds,
        batch_size=10,
    )
    assert (
        metadata_of(materialize_company([invoices], resources={**resources, "quickbooks": resized}), "invoices")[
            "pushed"
        ]
        == 25
    )
    assert len(sandbox.dump("Invoice")["records"]) == 25
    assert sandbox.counters()["calls"]["batch 200"] == 3  # 10 + 10 + 5, counted by the sandbox


@pytest.fixture
def numbering_off(sandbox, database_url):
    """The demo company, its Custom transaction numbers setting off (QuickBooks numbers invoices itself), and
    an order WEB-30 waiting; the project database."""
    sandbox.seed(preset="demo")
    sandbox.settings(custom_txn_numbers=False)
    engine = make_engine(database_url)
    add_named_order(engine, "WEB-30", "Cool Cars", "Rocks:1")
    return engine


def test_a_company_that_numbers_invoices_itself_gets_nothing_pushed_and_a_failed_connection_check(
    numbering_off, sandbox, resources
):
    result = materialize_company(
        [customers, invoices, quickbooks_connection], resources=resources, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Custom transaction numbers" in failure.event_specific_data.user_failure_data.description
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "Account and Settings → Sales → Custom transaction numbers" in check.description
    assert sandbox.dump("Invoice")["records"] == []
    with session_scope(numbering_off) as session:
        assert session.scalars(sa.select(Order.status)).one().value == "pending"


def test_once_the_company_keeps_our_numbers_the_next_run_pushes(numbering_off, sandbox, resources):
    materialize_company([customers, invoices, quickbooks_connection], resources=resources, raise_on_error=False)
    sandbox.settings(custom_txn_numbers=True)  # the setting turned on: the next run pushes
    assert metadata_of(materialize_company([invoices], resources=resources), "invoices")["pushed"] == 1


def test_payments_made_in_quickbooks_show_as_paid_invoices_and_open_balance(sandbox, resources, database_url):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    for number, quantity in (("PAY-1", "2"), ("PAY-2", "3")):
        add_named_order(engine, number, "Cool Cars", f"Rocks:{quantity}")
    assert metadata_of(materialize_company([invoices], resources=resources), "invoices")["pushed"] == 2
    qb = sandbox.qb_client()
    paid = next(r for r in sandbox.dump("Invoice")["records"] if r["DocNumber"] == "PAY-1")
    pay(qb, QBCustomer.get(paid["CustomerRef"]["value"], qb=qb), Invoice.get(paid["Id"], qb=qb), "19.90")
    numbers = metadata_of(materialize_company([invoices], resources=resources), "invoices")
    assert (numbers["paid_invoices"], numbers["unpaid_invoices"], numbers["open_balance"]) == (1, 1, 29.85)


def test_a_bad_pricing_file_is_set_aside_and_never_jams_the_drop_folder(demo_synced, resources, tmp_path, sandbox):
    drop = tmp_path / "pricing"
    drop.mkdir()
    (drop / "1-excel.csv").write_bytes((HEADER + "customer_price,Café Größe,,Rocks,8.00,,\n").encode("cp1252"))
    (drop / "2-huge.csv").write_text(HEADER + "customer_price,Cool Cars,,Rocks,1e30,,\n")
    (drop / "3-good.csv").write_text(HEADER + "customer_price,Cool Cars,,Rocks,8.00,,\n")
    add_named_order(demo_synced, "WEB-40", "Cool Cars", "Rocks:2")
    result = materialize_company([price_levels, invoices], resources=with_drop_folder(resources, drop))
    assert result.success
    levels = metadata_of(result, "price_levels")
    assert (levels["changes_this_run"], levels["rejected_files"]) == (1, 2)
    reasons = {p.name.split("-", 1)[1]: p.read_text() for p in (drop / "rejected").glob("*.reason.txt")}
    assert "1-excel.csv line 2: byte 0xe9 is not UTF-8" in reasons["1-excel.csv.reason.txt"]
    assert "2-huge.csv line 2: price '1e30' is not a number" in reasons["2-huge.csv.reason.txt"]
    assert [p.name.split("-", 1)[1] for p in (drop / "processed").iterdir()] == ["3-good.csv"]
    assert metadata_of(result, "invoices")["pushed"] == 1  # the push downstream ran
    # at the price in force when the order was placed, before the new price took effect: 2 × 9.95
    assert sandbox.dump("Invoice")["records"][0]["TotalAmt"] == 19.9


# -- no green over a failure -----------------------------------------------------------------------------


@pytest.fixture
def two_failing_orders(demo_synced):
    """Orders LATE-CUST (naming a customer QuickBooks does not have yet) and ZERO (a quantity of 0)."""
    add_named_order(demo_synced, "LATE-CUST", "Brand New Co", "Rocks:1")
    add_named_order(demo_synced, "ZERO", "Cool Cars", "Rocks:0")
    return demo_synced


def test_failed_orders_leave_the_run_green_and_turn_the_failed_orders_check_red(two_failing_orders, resources):
    first = materialize_company([invoices, invoice_checks], resources=resources)
    assert first.success  # the run did its job; the check is what turns red
    check = failed_orders_check(first)
    assert not check.passed and "2 orders failed and 0 blocked" in check.description


def test_failed_orders_are_counted_on_the_invoices_and_orders_pages(two_failing_orders, resources):
    first = materialize_company([invoices, invoice_checks], resources=resources)
    numbers = metadata_of(first, "invoices")
    assert (numbers["failed"], numbers["orders_failed"], numbers["orders_synced"]) == (2, 2, 0)
    assert "INVOICES" in numbers["recent_activity"]
    observed = {e.asset_key.path[-1]: e for e in first.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert sorted(observed) == ["customers", "items", "orders"]  # the run pulled names before pushing
    assert observed["orders"].event_specific_data.asset_observation.metadata["failed"].value == 2


def test_an_order_for_an_unknown_customer_goes_again_once_a_customers_sync_brings_it_in(
    two_failing_orders, resources, sandbox
):
    materialize_company([invoices, invoice_checks], resources=resources)
    make_customer(sandbox.qb_client(), "Brand New Co")  # the customer is created in QuickBooks by a person…
    synced = materialize_company([customers], resources=resources)  # …and the next customers sync brings it in
    assert metadata_of(synced, "customers")["orders_released"] == 1
    again = materialize_company([invoices, invoice_checks], resources=resources)
    assert metadata_of(again, "invoices")["pushed"] == 1
    assert sandbox_invoices(sandbox) == ["LATE-CUST"]
    check = failed_orders_check(again)  # still red, for the order that is still wrong
    assert "1 order failed and 0 blocked" in check.description and "ZERO" in check.description


@pytest.fixture
def zero_fixed_and_sent_again(demo_synced, resources):
    """Order ZERO (a quantity of 0) failed; a person fixes it, sends it again from the UI (retry_orders_job),
    and the next run goes: (the retry's run, that next run)."""
    add_named_order(demo_synced, "ZERO", "Cool Cars", "Rocks:0")
    materialize_company([invoices, invoice_checks], resources=resources)
    with session_scope(demo_synced) as session:
        session.scalars(sa.select(OrderLine)).one().quantity = Decimal("2")
    retried = retry_orders_job.execute_in_process(
        run_config={"ops": {"retry_orders_op": {"config": {"order_numbers": ["ZERO"]}}}},
        resources={"database": resources["database"]},
    )
    return retried, materialize_company([invoices, invoice_checks], resources=resources)


def test_a_failed_order_fixed_and_sent_again_from_the_ui_is_invoiced_once_and_the_check_turns_green(
    zero_fixed_and_sent_again, sandbox
):
    retried, final = zero_fixed_and_sent_again
    assert retried.success
    assert metadata_of(final, "invoices")["pushed"] == 1 and failed_orders_check(final).passed
    assert sandbox_invoices(sandbox) == ["ZERO"]


def test_the_retry_and_its_invoice_are_logged_in_the_singular(zero_fixed_and_sent_again, demo_synced):
    with session_scope(demo_synced) as session:  # one of each, said in the singular
        said = session.scalars(sa.select(SyncLog.message).order_by(SyncLog.id.desc()).limit(2)).all()
    assert said[0].startswith("Synced 1 new invoice") and not said[0].startswith("Synced 1 new invoices")
    assert said[1] == "Sent 1 failed or blocked order again (a person asked)"


# -- sync health -----------------------------------------------------------------------------------------


@pytest.fixture
def three_good_runs(sandbox, resources, database_url):
    """Customers, items and invoices synced once each, an order of Rocks invoiced; the project database."""
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    add_named_order(engine, "H-1", "Cool Cars", "Rocks:1")
    assert materialize_company([customers, items, invoices], resources=resources).success
    return engine


def test_sync_health_charts_the_last_days_and_passes_its_check(three_good_runs, resources):
    healthy = materialize_company([sync_health, sync_health_24h], resources=resources)
    numbers = metadata_of(healthy, "sync_health")
    assert numbers["runs_24h"] == 3 and numbers["success_rate_24h"] == 1.0
    assert "| INVOICES |" in numbers["by_day_and_type"].replace("  ", " ") or "INVOICES" in numbers["by_day_and_type"]
    assert "median_seconds" in numbers["order_latency_by_day"]
    assert numbers["open_balance"] == 9.95
    assert healthy.get_asset_check_evaluations()[0].passed


def test_the_sync_health_check_fails_below_95_percent(three_good_runs, resources):
    with session_scope(three_good_runs) as session:  # a bad afternoon: three failed runs
        for _ in range(3):
            queries.append_sync_log(session, entity="Invoices", outcome="FAILED", message="QuickBooks is down")
    sick = materialize_company([sync_health, sync_health_24h], resources=resources)
    (check,) = sick.get_asset_check_evaluations()
    assert not check.passed and "only 50% of 6 runs succeeded" in check.description


def test_when_the_invoices_run_pulls_customers_and_items_their_pages_say_so(sandbox, resources, database_url):
    sandbox.seed(preset="demo")  # never synced here: the order's names make the invoices run pull them
    add_named_order(make_engine(database_url), "M-1", "Cool Cars", "Rocks:1")
    result = materialize_company([invoices], resources=resources)
    reported = {
        o.asset_key.to_user_string(): o.metadata["pulled"].value
        for o in result.asset_observations_for_node("invoices")
        if o.asset_key.path != ["orders"]
    }
    assert reported == {"customers": 28, "items": 16}
    # observed, not materialized: only the invoices step materializes (see test_asset_pages.py)
    assert [m.asset_key.path for m in result.asset_materializations_for_node("invoices")] == [["invoices"]]

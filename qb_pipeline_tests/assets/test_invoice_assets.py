"""`invoices` and `price_levels` materialized with real Dagster against the sandbox."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.checks import invoice_totals_reconcile, orders_not_waiting, unique_doc_numbers
from qb_pipeline.db.models import Customer, Item, Order, OrderLine, SyncLog
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline_tests.sync.orders_fixtures import add_orders, build_shop

ALL = [customers, items, price_levels, invoices, orders_not_waiting, invoice_totals_reconcile, unique_doc_numbers]


def meta(result, key):
    (materialization,) = [m for m in result.asset_materializations_for_node(key) if m.asset_key.path == [key]]
    return {k: v.value for k, v in materialization.metadata.items()}


def test_orders_become_invoices_priced_from_a_dropped_csv_and_voids_are_flagged(
    sandbox, resources, database_url, tmp_path
):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    assert dg.materialize([customers, items], resources=resources).success
    drop = tmp_path / "pricing"
    drop.mkdir()
    (drop / "prices.csv").write_text(
        "kind,customer,price_level,item,price,percent,valid_from\ncustomer_price,Cool Cars,,Rocks,8.00,,\n"
    )
    (drop / "typo.csv").write_text(
        "kind,customer,price_level,item,price,percent,valid_from\ncustomer_price,Nobody,,Rocks,8.00,,\n"
    )
    resources = {**resources, "database": DatabaseResource(url=resources["database"].url, pricing_drop_dir=str(drop))}
    pricing_run = dg.materialize([price_levels], resources=resources)
    assert meta(pricing_run, "price_levels")["changes_this_run"] == 1
    assert meta(pricing_run, "price_levels")["rejected_rows"] == 1
    assert (drop / "processed").is_dir() and not list(drop.glob("*.csv"))
    with session_scope(engine) as session:  # orders placed once the new price is in force
        cool = session.scalars(sa.select(Customer).where(Customer.display_name == "Cool Cars")).one()
        rocks = session.scalars(sa.select(Item).where(Item.name == "Rocks")).one()
        session.add_all(
            [
                Order(
                    order_number="WEB-1",
                    customer_id=cool.id,
                    lines=[OrderLine(line_number=1, item_id=rocks.id, quantity=Decimal("3"))],
                ),
                Order(
                    order_number="WEB-2",
                    customer_name="Nobody Inc",
                    lines=[OrderLine(line_number=1, item_id=rocks.id, quantity=Decimal("1"))],
                ),
            ]
        )
    result = dg.materialize(ALL, resources=resources)
    assert result.success
    numbers = meta(result, "invoices")
    assert (numbers["pushed"], numbers["failed"], numbers["pending_after_run"]) == (1, 1, 0)
    (invoice,) = sandbox.dump("Invoice")["records"]
    assert invoice["DocNumber"] == "WEB-1" and invoice["TotalAmt"] == 24.0  # 3 × the customer's 8.00
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"orders_not_waiting": True, "invoice_totals_reconcile": True, "unique_doc_numbers": True}

    qb = sandbox.qb_client()
    from quickbooks.objects.invoice import Invoice

    Invoice.get(invoice["Id"], qb=qb).void(qb=qb)
    again = dg.materialize([invoices], resources=resources)
    assert meta(again, "invoices")["voided_or_deleted_flagged"] == 1
    with session_scope(engine) as session:
        order = session.scalars(sa.select(Order).where(Order.order_number == "WEB-1")).one()
        assert (order.status.value, order.qb_invoice_state) == ("synced", "voided")
        log = [r.entity for r in session.scalars(sa.select(SyncLog).order_by(SyncLog.id))]
    assert log.count("INVOICES") == 2 and "PRICING" in log
    assert len(sandbox.dump("Invoice")["records"]) == 1  # the voided order was not pushed again


def test_an_order_for_a_local_item_creates_the_item_first(sandbox, resources, database_url):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    assert dg.materialize([customers], resources=resources).success
    with session_scope(engine) as session:
        buyer = session.scalars(sa.select(Customer).where(Customer.display_name == "Cool Cars")).one()
        session.add(
            Order(
                order_number="WEB-9",
                customer_id=buyer.id,
                lines=[
                    OrderLine(
                        line_number=1, item=Item(name="Local Gizmo", unit_price=Decimal("4.25")), quantity=Decimal("2")
                    )
                ],
            )
        )
    result = dg.materialize([invoices], resources=resources)
    assert meta(result, "invoices")["pushed"] == 1
    gizmo = next(r for r in sandbox.dump("Item")["records"] if r["Name"] == "Local Gizmo")
    assert gizmo["IncomeAccountRef"]["value"] == "1"  # QuickBooks' first income account
    assert sandbox.dump("Invoice")["records"][0]["TotalAmt"] == 8.5


def test_an_order_naming_a_customer_not_mirrored_yet_pulls_it_first(sandbox, resources, database_url):
    sandbox.seed(preset="demo")  # in QuickBooks, never synced here
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number="WEB-20",
                customer_name="cool cars",
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("2"))],
            )
        )
    result = dg.materialize([invoices], resources=resources)
    assert meta(result, "invoices")["pushed"] == 1
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
    assert meta(dg.materialize([invoices], resources={**resources, "quickbooks": resized}), "invoices")["pushed"] == 25
    assert len(sandbox.dump("Invoice")["records"]) == 25
    assert sandbox.counters()["calls"]["batch 200"] == 3  # 10 + 10 + 5, counted by the sandbox


def test_a_company_that_numbers_invoices_itself_gets_nothing_pushed_and_a_failed_connection_check(
    sandbox, resources, database_url
):
    from qb_pipeline.checks import quickbooks_connection

    sandbox.seed(preset="demo")
    sandbox.settings(custom_txn_numbers=False)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number="WEB-30",
                customer_name="Cool Cars",
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("1"))],
            )
        )
    result = dg.materialize([customers, invoices, quickbooks_connection], resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Custom transaction numbers" in failure.event_specific_data.user_failure_data.description
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "Account and Settings → Sales → Custom transaction numbers" in check.description
    assert sandbox.dump("Invoice")["records"] == []
    with session_scope(engine) as session:
        assert session.scalars(sa.select(Order.status)).one().value == "pending"
    sandbox.settings(custom_txn_numbers=True)  # the setting turned on: the next run pushes
    assert meta(dg.materialize([invoices], resources=resources), "invoices")["pushed"] == 1


def test_payments_made_in_quickbooks_show_as_paid_invoices_and_open_balance(sandbox, resources, database_url):
    from quickbooks.objects.customer import Customer as QBCustomer
    from quickbooks.objects.invoice import Invoice

    from qb_pipeline_tests.sandbox.test_conformance_payments import pay

    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        for number, quantity in (("PAY-1", "2"), ("PAY-2", "3")):
            session.add(
                Order(
                    order_number=number,
                    customer_name="Cool Cars",
                    lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal(quantity))],
                )
            )
    assert meta(dg.materialize([invoices], resources=resources), "invoices")["pushed"] == 2
    qb = sandbox.qb_client()
    paid = next(r for r in sandbox.dump("Invoice")["records"] if r["DocNumber"] == "PAY-1")
    pay(qb, QBCustomer.get(paid["CustomerRef"]["value"], qb=qb), Invoice.get(paid["Id"], qb=qb), "19.90")
    numbers = meta(dg.materialize([invoices], resources=resources), "invoices")
    assert (numbers["paid_invoices"], numbers["unpaid_invoices"], numbers["open_balance"]) == (1, 1, 29.85)


def test_a_bad_pricing_file_is_set_aside_and_never_jams_the_drop_folder(sandbox, resources, database_url, tmp_path):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    assert dg.materialize([customers, items], resources=resources).success
    drop = tmp_path / "pricing"
    drop.mkdir()
    (drop / "1-excel.csv").write_bytes(
        "kind,customer,price_level,item,price,percent,valid_from\ncustomer_price,Café Größe,,Rocks,8.00,,\n".encode(
            "cp1252"
        )
    )
    (drop / "2-huge.csv").write_text(
        "kind,customer,price_level,item,price,percent,valid_from\ncustomer_price,Cool Cars,,Rocks,1e30,,\n"
    )
    (drop / "3-good.csv").write_text(
        "kind,customer,price_level,item,price,percent,valid_from\ncustomer_price,Cool Cars,,Rocks,8.00,,\n"
    )
    resources = {**resources, "database": DatabaseResource(url=resources["database"].url, pricing_drop_dir=str(drop))}
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number="WEB-40",
                customer_name="Cool Cars",
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("2"))],
            )
        )
    result = dg.materialize([price_levels, invoices], resources=resources)
    assert result.success
    levels = meta(result, "price_levels")
    assert (levels["changes_this_run"], levels["rejected_files"]) == (1, 2)
    reasons = {p.name.split("-", 1)[1]: p.read_text() for p in (drop / "rejected").glob("*.reason.txt")}
    assert "1-excel.csv line 2: byte 0xe9 is not UTF-8" in reasons["1-excel.csv.reason.txt"]
    assert "2-huge.csv line 2: price '1e30' is not a number" in reasons["2-huge.csv.reason.txt"]
    assert [p.name.split("-", 1)[1] for p in (drop / "processed").iterdir()] == ["3-good.csv"]
    assert meta(result, "invoices")["pushed"] == 1  # the push downstream ran
    # at the price in force when the order was placed, before the new price took effect: 2 × 9.95
    assert sandbox.dump("Invoice")["records"][0]["TotalAmt"] == 19.9


def test_no_green_over_a_failure_and_an_unknown_customer_goes_again_once_synced(sandbox, resources, database_url):
    from qb_pipeline.checks import no_failed_orders
    from qb_pipeline.jobs import retry_orders_job

    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    assert dg.materialize([customers, items], resources=resources).success
    with session_scope(engine) as session:
        session.add_all(
            [
                Order(
                    order_number="LATE-CUST",
                    customer_name="Brand New Co",
                    lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("1"))],
                ),
                Order(
                    order_number="ZERO",
                    customer_name="Cool Cars",
                    lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("0"))],
                ),
            ]
        )
    first = dg.materialize([invoices, no_failed_orders], resources=resources)
    assert first.success  # the run did its job; the check is what turns red
    (check,) = first.get_asset_check_evaluations()
    assert not check.passed and "2 orders failed and 0 blocked" in check.description
    numbers = meta(first, "invoices")
    assert (numbers["failed"], numbers["orders_failed"], numbers["orders_synced"]) == (2, 2, 0)
    assert "INVOICES" in numbers["recent_activity"]
    observed = {e.asset_key.path[-1]: e for e in first.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert sorted(observed) == ["customers", "items", "orders"]  # the run pulled names before pushing
    assert observed["orders"].event_specific_data.asset_observation.metadata["failed"].value == 2

    sandbox.qb_client()  # the customer is created in QuickBooks by a person…
    from qb_pipeline_tests.sandbox.test_conformance_crud import make_customer

    make_customer(sandbox.qb_client(), "Brand New Co")
    synced = dg.materialize([customers], resources=resources)  # …and the next customers sync brings it in
    assert meta(synced, "customers")["orders_released"] == 1
    again = dg.materialize([invoices, no_failed_orders], resources=resources)
    assert meta(again, "invoices")["pushed"] == 1
    (check,) = again.get_asset_check_evaluations()
    assert "1 order failed and 0 blocked" in check.description and "ZERO" in check.description

    with session_scope(engine) as session:  # a person fixes the order, then sends it again from the UI
        zero = session.scalars(sa.select(Order).where(Order.order_number == "ZERO")).one()
        zero.lines[0].quantity = Decimal("2")
    retried = retry_orders_job.execute_in_process(
        run_config={"ops": {"retry_orders_op": {"config": {"order_numbers": ["ZERO"]}}}},
        resources={"database": resources["database"]},
    )
    assert retried.success
    final = dg.materialize([invoices, no_failed_orders], resources=resources)
    assert meta(final, "invoices")["pushed"] == 1 and final.get_asset_check_evaluations()[0].passed
    assert sorted(r["DocNumber"] for r in sandbox.dump("Invoice")["records"]) == ["LATE-CUST", "ZERO"]
    with session_scope(engine) as session:  # one of each, said in the singular
        said = session.scalars(sa.select(SyncLog.message).order_by(SyncLog.id.desc()).limit(2)).all()
    assert said[0].startswith("Synced 1 new invoice") and not said[0].startswith("Synced 1 new invoices")
    assert said[1] == "Sent 1 failed or blocked order again (a person asked)"


def test_sync_health_charts_the_last_days_and_its_check_fails_below_95_percent(sandbox, resources, database_url):
    from qb_pipeline.assets.health import sync_health, sync_health_24h
    from qb_pipeline.db import queries

    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number="H-1",
                customer_name="Cool Cars",
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("1"))],
            )
        )
    assert dg.materialize([customers, items, invoices], resources=resources).success
    healthy = dg.materialize([sync_health, sync_health_24h], resources=resources)
    numbers = meta(healthy, "sync_health")
    assert numbers["runs_24h"] == 3 and numbers["success_rate_24h"] == 1.0
    assert "| INVOICES |" in numbers["by_day_and_type"].replace("  ", " ") or "INVOICES" in numbers["by_day_and_type"]
    assert "median_seconds" in numbers["order_latency_by_day"]
    assert numbers["open_balance"] == 9.95
    assert healthy.get_asset_check_evaluations()[0].passed
    with session_scope(engine) as session:  # a bad afternoon: three failed runs
        for _ in range(3):
            queries.append_sync_log(session, entity="Invoices", outcome="FAILED", message="QuickBooks is down")
    sick = dg.materialize([sync_health, sync_health_24h], resources=resources)
    (check,) = sick.get_asset_check_evaluations()
    assert not check.passed and "only 50% of 6 runs succeeded" in check.description


def test_when_the_invoices_run_pulls_customers_and_items_their_pages_say_so(sandbox, resources, database_url):
    sandbox.seed(preset="demo")  # never synced here: the order's names make the invoices run pull them
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number="M-1",
                customer_name="Cool Cars",
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal("1"))],
            )
        )
    result = dg.materialize([invoices], resources=resources)
    reported = {
        o.asset_key.to_user_string(): o.metadata["pulled"].value
        for o in result.asset_observations_for_node("invoices")
        if o.asset_key.path != ["orders"]
    }
    assert reported == {"customers": 28, "items": 16}
    # observed, not materialized: only the invoices step materializes (see test_asset_pages.py)
    assert [m.asset_key.path for m in result.asset_materializations_for_node("invoices")] == [["invoices"]]

"""The schedule, the sensor and the shape of the asset graph."""

from __future__ import annotations

import importlib
from decimal import Decimal

import dagster as dg

from qb_pipeline import config
from qb_pipeline.db.models import Order, OrderLine
from qb_pipeline.db.session import session_scope
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.schedules import cron_for
from qb_pipeline.sensors import new_orders_sensor


def add_order(engine, number: str) -> int:
    with session_scope(engine) as session:
        order = Order(order_number=number, customer_name="Acme",
                      lines=[OrderLine(line_number=1, item_name="Widget", quantity=Decimal("1"))])
        session.add(order)
        session.flush()
        return order.id


def tick(database_url, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"database": DatabaseResource(url=database_url)})
    return new_orders_sensor.evaluate_tick(context), context


def test_sensor_launches_one_run_per_batch_of_new_orders(database_url, engine):
    with dg.instance_for_test() as instance:
        result, _ = tick(database_url, instance)
        assert not result.run_requests and result.skip_message == "no new orders"
        add_order(engine, "SO-1")
        newest = add_order(engine, "SO-2")
        result, _ = tick(database_url, instance)
        (request,) = result.run_requests
        assert request.run_key == f"orders-through-{newest}" and request.tags["qb_pipeline/new_orders"] == "2"
        assert result.cursor == str(newest)
        again, _ = tick(database_url, instance, cursor=result.cursor)
        assert not again.run_requests and again.skip_message == "no new orders"


def test_sensor_waits_while_a_push_is_running(database_url, engine):
    from qb_pipeline.definitions import defs

    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def("push_invoices_job")
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
        add_order(engine, "SO-9")
        result, _ = tick(database_url, instance)
        assert not result.run_requests and "wait for the push already queued or running" in result.skip_message


def test_schedule_frequency_and_selection_come_from_the_environment(monkeypatch):
    assert cron_for(1) == "0 * * * *" and cron_for(6) == "0 */6 * * *"
    monkeypatch.setenv("QB_AUTO_SYNC_PRICING", "false")
    monkeypatch.setenv("QB_AUTO_SYNC_ORDERS", "no")
    monkeypatch.setenv("QB_SYNC_FREQUENCY_HOURS", "4")
    import qb_pipeline.jobs as jobs
    import qb_pipeline.schedules as schedules
    import qb_pipeline.sensors as sensors
    try:
        importlib.reload(jobs)
        importlib.reload(schedules)
        importlib.reload(sensors)
        assert jobs.hourly_selection() == ["customers", "items"]
        assert schedules.hourly_sync.cron_schedule == "0 */4 * * *"
        assert schedules.hourly_sync.default_status == dg.DefaultScheduleStatus.RUNNING
        assert sensors.new_orders_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    finally:
        monkeypatch.undo()
        importlib.reload(jobs)
        importlib.reload(schedules)
        importlib.reload(sensors)


def test_bad_flag_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("QB_AUTO_SYNC_ITEMS", "maybe")
    try:
        config.auto_sync("items")
    except ValueError as error:
        assert "QB_AUTO_SYNC_ITEMS must be true or false" in str(error)
    else:
        raise AssertionError("a bad flag was accepted")


def test_asset_graph_snapshot():
    """An accidental change to keys, groups or dependencies shows up here."""
    from qb_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    shape = {
        key.to_user_string(): (graph.get(key).group_name, sorted(d.to_user_string() for d in graph.get(key).parent_keys))
        for key in graph.get_all_asset_keys()
    }
    assert shape == {
        "orders": ("order_entry", []),
        "customers": ("quickbooks", []),
        "items": ("quickbooks", []),
        "price_levels": ("quickbooks", ["customers", "items"]),
        "invoices": ("quickbooks", ["customers", "items", "orders", "price_levels"]),
    }
    assert {key.name for key in graph.asset_check_keys} == {
        "customers_linked", "items_linked", "quickbooks_connection", "orders_not_waiting",
        "invoice_totals_reconcile", "unique_doc_numbers"}

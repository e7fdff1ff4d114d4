"""The schedule, the sensor and the shape of the asset graph."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import pytest

from qb_pipeline import config
from qb_pipeline.db.models import Order, OrderLine, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.definitions import build_definitions, defs
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.schedules import cron_for
from qb_pipeline.settings import Settings


def add_order(engine, number: str) -> int:
    with session_scope(engine) as session:
        order = Order(
            order_number=number,
            customer_name="Acme",
            lines=[OrderLine(line_number=1, item_name="Widget", quantity=Decimal("1"))],
        )
        session.add(order)
        session.flush()
        return order.id


def tick(database_url, instance, cursor=None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"database": DatabaseResource(url=database_url)}
    )
    return defs.get_sensor_def("new_orders_sensor").evaluate_tick(context), context


def test_sensor_launches_one_run_for_the_due_orders_and_none_while_it_runs(database_url, engine):
    with dg.instance_for_test() as instance:
        result, _ = tick(database_url, instance)
        assert not result.run_requests and result.skip_message == "no order is due"
        add_order(engine, "SO-1")
        add_order(engine, "SO-2")
        result, _ = tick(database_url, instance, cursor="500")  # an order-id cursor from another database
        (request,) = result.run_requests
        assert request.tags["qb_pipeline/due_orders"] == "2" and json.loads(result.cursor) == {"launches": 1}
        instance.create_run_for_job(
            job_def=defs.resolve_job_def("push_invoices_job"), status=dg.DagsterRunStatus.STARTED
        )
        again, _ = tick(database_url, instance, cursor=result.cursor)
        assert not again.run_requests and "wait for the push already queued or running" in again.skip_message


def test_sensor_sees_orders_put_back_or_due_for_a_retry(database_url, engine):
    failed_now = add_order(engine, "SO-RETRY-NOW")
    failed_later = add_order(engine, "SO-RETRY-LATER")
    waits_for_a_person = add_order(engine, "SO-PERSON")
    with session_scope(engine) as session:
        for order_id, retry_in in ((failed_now, -1), (failed_later, 600), (waits_for_a_person, None)):
            order = session.get(Order, order_id)
            order.status = OrderStatus.FAILED
            order.next_attempt_at = None if retry_in is None else utcnow() + timedelta(seconds=retry_in)
    with dg.instance_for_test() as instance:
        result, _ = tick(database_url, instance)
        (request,) = result.run_requests
        assert request.tags["qb_pipeline/due_orders"] == "1"
        # A push run that failed a moment ago: its orders wait a little, a newer order does not.
        job = defs.resolve_job_def("push_invoices_job")
        run = instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
        instance.report_run_failed(run)
        paused, _ = tick(database_url, instance)
        assert not paused.run_requests and "the last push failed" in paused.skip_message
        add_order(engine, "SO-NEW")
        (request,) = tick(database_url, instance)[0].run_requests
        assert request.tags["qb_pipeline/due_orders"] == "2"


def test_schedule_frequency_and_selection_come_from_the_settings(monkeypatch):
    assert cron_for(1) == "0 * * * *" and cron_for(6) == "0 */6 * * *"
    monkeypatch.setenv("QB_AUTO_SYNC_PRICING", "false")
    monkeypatch.setenv("QB_AUTO_SYNC_ORDERS", "no")
    monkeypatch.setenv("QB_SYNC_FREQUENCY_HOURS", "4")
    configured = build_definitions(Settings.from_env())
    hourly = configured.resolve_job_def("hourly_sync_job")
    assert sorted(key.to_user_string() for key in hourly.asset_layer.selected_asset_keys) == [
        "customers",
        "items",
        "sync_health",
    ]
    schedule = configured.get_schedule_def("hourly_sync")
    assert schedule.cron_schedule == "0 */4 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert configured.get_sensor_def("new_orders_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.get_sensor_def("new_orders_sensor").default_status == dg.DefaultSensorStatus.RUNNING  # untouched


def test_bad_flag_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("QB_AUTO_SYNC_ITEMS", "maybe")
    with pytest.raises(config.SettingsError, match=r"QB_AUTO_SYNC_ITEMS='maybe' is not allowed: use true or false"):
        config.auto_sync("items")


def test_asset_graph_snapshot():
    """An accidental change to keys, groups or dependencies shows up here."""
    graph = defs.resolve_asset_graph()
    shape = {
        key.to_user_string(): (
            graph.get(key).group_name,
            sorted(d.to_user_string() for d in graph.get(key).parent_keys),
        )
        for key in graph.get_all_asset_keys()
    }
    assert shape == {
        "orders": ("order_entry", []),
        "customers": ("quickbooks", []),
        "items": ("quickbooks", []),
        "price_levels": ("quickbooks", ["customers", "items"]),
        "invoices": ("quickbooks", ["customers", "items", "orders", "price_levels"]),
        "sync_health": ("health", ["customers", "invoices", "items", "price_levels"]),
    }
    assert {key.name for key in graph.asset_check_keys} == {
        "customers_linked",
        "items_linked",
        "quickbooks_connection",
        "orders_not_waiting",
        "no_failed_orders",
        "invoice_totals_reconcile",
        "unique_doc_numbers",
        "sync_health_24h",
    }


def test_quickbooks_assets_carry_a_freshness_policy_that_follows_the_sync_frequency():
    def policies(configured: dg.Definitions) -> dict:
        graph = configured.resolve_asset_graph()
        return {
            key.to_user_string(): graph.get(key).freshness_policy
            for key in graph.get_all_asset_keys()
            if graph.get(key).freshness_policy
        }

    assert set(policies(defs)) == {"customers", "items", "invoices"}
    every_four_hours = policies(build_definitions(Settings(sync_frequency_hours=4)))
    assert {
        name: (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta())
        for name, policy in every_four_hours.items()
    } == {name: (timedelta(hours=4, minutes=15), timedelta(hours=8, minutes=15)) for name in every_four_hours}


def test_a_push_run_is_tagged_with_the_company_id_whatever_can_be_read(tmp_path):
    """dagster.yaml runs one push per value of qb_pipeline/realm: the value is the company id, never the
    environment's name (which every company of that environment would share)."""
    from qb_pipeline.jobs import PUSH_INVOICES_JOB, REALM_TAG
    from qb_pipeline.sandbox.server import DEFAULT_REALM

    def tags(settings: Settings) -> set[str]:
        configured = build_definitions(settings)
        automation = configured.get_sensor_def("quickbooks_automation_sensor")
        return {configured.resolve_job_def(PUSH_INVOICES_JOB).tags[REALM_TAG], automation.run_tags[REALM_TAG]}

    assert tags(Settings(environment="production", realm_id="4620816365")) == {"4620816365"}
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps({"realm_id": "555"}))
    assert tags(Settings(sandbox_connection_file=connection)) == {"555"}
    # the sandbox is not started yet (no connection file): the company it always serves, not "sandbox-local"
    assert tags(Settings(sandbox_connection_file=tmp_path / "missing.json")) == {DEFAULT_REALM}
    assert tags(Settings(environment="production")) == {config.NO_COMPANY_REALM_TAG}

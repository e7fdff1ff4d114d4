"""The schedule, the sensor and the shape of the asset graph."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pytest

from qb_pipeline import config
from qb_pipeline.automation import on_by_default
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.definitions import build_definitions, defs
from qb_pipeline.jobs import PUSH_INVOICES_JOB, REALM_TAG
from qb_pipeline.partitions import partition_tag
from qb_pipeline.sandbox.server import DEFAULT_REALM
from qb_pipeline.schedules import cron_for
from qb_pipeline.settings import Settings
from qb_pipeline_tests.fixtures.dagster_runs import tick
from qb_pipeline_tests.fixtures.orders import add_named_order

ORDERS_SENSOR = "new_orders_sensor"


def add_order(engine, number: str) -> int:
    return add_named_order(engine, number, "Acme", "Widget:1")


def push_run(instance, status: dg.DagsterRunStatus, realm: str = DEFAULT_REALM) -> dg.DagsterRun:
    """A push run of company `realm` (its partition's tag, as Dagster gives every run of a partition)."""
    job = defs.resolve_job_def("push_invoices_job")
    return instance.create_run_for_job(job_def=job, status=status, tags=partition_tag(realm))


def test_the_orders_sensor_skips_while_no_order_is_due(database_url, instance):
    result = tick(ORDERS_SENSOR, database_url, instance)
    assert not result.run_requests and result.skip_message == "no order is due"


def test_due_orders_launch_one_push_whatever_the_cursor_held(database_url, engine, instance):
    add_order(engine, "SO-1")
    add_order(engine, "SO-2")
    result = tick(ORDERS_SENSOR, database_url, instance, cursor="500")  # an order-id cursor from another database
    (request,) = result.run_requests
    assert request.tags["qb_pipeline/due_orders"] == "2" and json.loads(result.cursor) == {"launches": 1}
    assert request.partition_key == DEFAULT_REALM and request.tags[REALM_TAG] == DEFAULT_REALM  # its company's lane
    assert DEFAULT_REALM in request.run_key


def test_each_company_with_due_orders_gets_a_push_of_its_own(database_url, engine, instance):
    add_order(engine, "SO-1")  # no company named: the one company's (the default)
    add_named_order(engine, "SO-1", "Acme", "Widget:1", realm_id="777")  # the same number, another company
    add_named_order(engine, "SO-2", "Acme", "Widget:1", realm_id="777")
    add_named_order(engine, "SO-3", "Acme", "Widget:1", realm_id="888")  # a company with no partition (yet)
    result = tick(ORDERS_SENSOR, database_url, instance, realms=(DEFAULT_REALM, "777"))
    due = {request.partition_key: request.tags["qb_pipeline/due_orders"] for request in result.run_requests}
    assert due == {DEFAULT_REALM: "1", "777": "2"}
    assert {request.tags[REALM_TAG] for request in result.run_requests} == {DEFAULT_REALM, "777"}


def test_another_companys_running_push_does_not_hold_this_companys_orders(database_url, engine, instance):
    add_order(engine, "SO-1")
    push_run(instance, dg.DagsterRunStatus.STARTED, realm="777")  # another company's push: its own lane
    (request,) = tick(ORDERS_SENSOR, database_url, instance, realms=(DEFAULT_REALM, "777")).run_requests
    assert request.partition_key == DEFAULT_REALM


def test_no_second_push_is_launched_while_one_runs(database_url, engine, instance):
    add_order(engine, "SO-1")
    push_run(instance, dg.DagsterRunStatus.STARTED)
    again = tick(ORDERS_SENSOR, database_url, instance, cursor=json.dumps({"launches": 1}))
    assert not again.run_requests and "wait for the push already queued or running" in again.skip_message


@pytest.fixture
def three_failed_orders(engine):
    """Failed orders: one due for a retry now, one in ten minutes, one waiting for a person (no retry)."""
    failed_now = add_order(engine, "SO-RETRY-NOW")
    failed_later = add_order(engine, "SO-RETRY-LATER")
    waits_for_a_person = add_order(engine, "SO-PERSON")
    with session_scope(engine) as session:
        for order_id, retry_in in ((failed_now, -1), (failed_later, 600), (waits_for_a_person, None)):
            order = session.get(Order, order_id)
            order.status = OrderStatus.FAILED
            order.next_attempt_at = None if retry_in is None else utcnow() + timedelta(seconds=retry_in)


def test_the_orders_sensor_launches_for_the_failed_orders_due_for_a_retry_only(
    three_failed_orders, database_url, instance
):
    (request,) = tick(ORDERS_SENSOR, database_url, instance).run_requests
    assert request.tags["qb_pipeline/due_orders"] == "1"


def test_after_a_push_failed_a_moment_ago_its_orders_wait_a_little(three_failed_orders, database_url, instance):
    instance.report_run_failed(push_run(instance, dg.DagsterRunStatus.STARTED))
    paused = tick(ORDERS_SENSOR, database_url, instance)
    assert not paused.run_requests and "the last push failed" in paused.skip_message


def test_an_order_newer_than_a_failed_push_goes_at_once(three_failed_orders, database_url, engine, instance):
    instance.report_run_failed(push_run(instance, dg.DagsterRunStatus.STARTED))
    add_order(engine, "SO-NEW")
    (request,) = tick(ORDERS_SENSOR, database_url, instance).run_requests
    assert request.tags["qb_pipeline/due_orders"] == "2"


def test_the_schedule_runs_every_hour_or_every_n_hours():
    assert cron_for(1) == "0 * * * *" and cron_for(6) == "0 */6 * * *"


@pytest.fixture
def configured(monkeypatch) -> dg.Definitions:
    """The definitions of an install that syncs every four hours, neither pricing nor orders automatically."""
    monkeypatch.setenv("QB_AUTO_SYNC_PRICING", "false")
    monkeypatch.setenv("QB_AUTO_SYNC_ORDERS", "no")
    monkeypatch.setenv("QB_SYNC_FREQUENCY_HOURS", "4")
    return build_definitions(Settings.from_env())


def test_the_scheduled_job_syncs_what_the_settings_turn_on(configured):
    hourly = configured.resolve_job_def("hourly_sync_job")
    assert sorted(key.to_user_string() for key in hourly.asset_layer.selected_asset_keys) == [
        "customers",
        "items",
        "sync_health",
    ]


def test_by_default_the_hourly_job_mirrors_the_receivables_and_refreshes_their_reports_and_the_first_sync_reads_all():
    hourly = defs.resolve_job_def("hourly_sync_job")
    assert sorted(key.to_user_string() for key in hourly.asset_layer.selected_asset_keys) == [
        "ar_aging",
        "credit_memos",
        "customers",
        "invoices",
        "items",
        "payments",
        "price_levels",
        "sales_by_customer_month",
        "sync_health",
    ]
    first_sync = defs.get_sensor_def("quickbooks_automation_sensor").asset_selection.resolve(defs.resolve_asset_graph())
    assert sorted(key.to_user_string() for key in first_sync) == [
        "credit_memos",
        "customers",
        "invoices",
        "items",
        "payments",
        "price_levels",
    ]


def test_the_schedule_follows_the_sync_frequency_and_runs_by_default(configured):
    schedule = configured.get_schedule_def("hourly_sync")
    assert schedule.cron_schedule == "0 */4 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_orders_sensor_is_stopped_when_orders_are_not_synced_automatically(configured):
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
        "payments": ("quickbooks", ["invoices"]),
        "credit_memos": ("quickbooks", ["invoices"]),
        "sync_health": ("health", ["customers", "invoices", "items", "payments", "price_levels"]),
        "ar_aging": ("health", ["credit_memos", "invoices", "payments"]),
        "sales_by_customer_month": ("health", ["credit_memos", "invoices", "payments"]),
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
        "quickbooks_read_budget",
    }


def test_quickbooks_assets_carry_a_freshness_policy_that_follows_the_sync_frequency():
    def policies(configured: dg.Definitions) -> dict:
        graph = configured.resolve_asset_graph()
        return {
            key.to_user_string(): graph.get(key).freshness_policy
            for key in graph.get_all_asset_keys()
            if graph.get(key).freshness_policy
        }

    assert set(policies(defs)) == {"customers", "items", "invoices", "payments", "credit_memos"}
    every_four_hours = policies(build_definitions(Settings(sync_frequency_hours=4)))
    assert {
        name: (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta())
        for name, policy in every_four_hours.items()
    } == {name: (timedelta(hours=4, minutes=15), timedelta(hours=8, minutes=15)) for name in every_four_hours}


def test_the_default_company_is_its_id_whatever_can_be_read(tmp_path):
    """Runs are tagged with the company id (qb_pipeline/realm, one run per value in dagster.yaml): the default
    company's is its id, never the environment's name (which every company of that environment would share)."""
    assert config.realm_tag(Settings(environment="production", realm_id="4620816365")) == "4620816365"
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps({"realm_id": "555"}))
    assert config.realm_tag(Settings(sandbox_connection_file=connection)) == "555"
    # the sandbox is not started yet (no connection file): the company it always serves, not "sandbox-local"
    assert config.realm_tag(Settings(sandbox_connection_file=tmp_path / "missing.json")) == DEFAULT_REALM
    assert config.realm_tag(Settings(environment="production")) == config.NO_COMPANY_REALM_TAG


def test_no_job_or_first_sync_carries_one_company_s_tag_for_every_company():
    """A Materialize of company B in the UI, or B's first sync, must not wait in the default company's lane:
    only their partition (dagster/partition) says whose runs they are."""
    automation = defs.get_sensor_def("quickbooks_automation_sensor")
    assert REALM_TAG not in automation.run_tags and "dagster/max_runtime" in automation.run_tags
    for job in (PUSH_INVOICES_JOB, "hourly_sync_job", "sync_customers_job"):
        assert REALM_TAG not in defs.resolve_job_def(job).tags


@pytest.mark.parametrize("orders_on", [True, False])
def test_status_knows_every_schedule_and_sensor_the_definitions_hold_and_how_each_starts(orders_on):
    """`qb-pipeline status` reads automation.py instead of building the definitions: the two must agree."""
    settings = Settings(auto_sync_orders=orders_on)
    built = build_definitions(settings)
    held = {d.name: d.default_status.value == "RUNNING" for d in [*built.schedules, *built.sensors]}
    assert held == on_by_default(settings)
    assert held["new_orders_sensor"] is orders_on

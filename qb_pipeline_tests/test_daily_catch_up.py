"""The daily catch-up Intuit recommends beside webhooks: a change whose notification was lost is still
mirrored within a day, even when the hourly sync does not pull that entity (QB_AUTO_SYNC_*=false)."""

from __future__ import annotations

import socket

import dagster as dg
import pytest
import sqlalchemy as sa
from quickbooks.objects.customer import Customer as QBCustomer

from qb_pipeline.assets.name_lists import customers
from qb_pipeline.db.models import Customer, WebhookEvent
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.definitions import build_definitions
from qb_pipeline.sandbox.cli import serve as sandbox_serve
from qb_pipeline.sandbox.server import DEFAULT_REALM
from qb_pipeline.sandbox.webhooks import WebhookEmitter
from qb_pipeline.settings import Settings
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of, schedule_tick


def closed_port_url() -> str:
    """A receiver that is down: every delivery to it fails, and the notification is lost."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/quickbooks/webhooks"


def company_names(engine) -> dict[str, str | None]:
    with session_scope(engine) as session:
        return {qb_id: name for qb_id, name in session.execute(sa.select(Customer.qb_id, Customer.company_name))}


def assets_pulled_by(schedule_name: str, settings: Settings, database_url: str) -> list[str]:
    """The assets one tick of the schedule runs (the schedule runs by default)."""
    built = build_definitions(settings)
    schedule = built.get_schedule_def(schedule_name)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        (request,) = schedule_tick(built, schedule_name, instance, database_url).run_requests
    keys = request.asset_selection or built.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys
    return sorted(key.to_user_string() for key in keys)


@pytest.mark.parametrize(
    ("schedule_name", "settings"),
    [
        ("hourly_sync", Settings()),  # by default the hourly sync pulls customers by CDC: found within the hour
        ("daily_catch_up", Settings(auto_sync_customers=False)),  # switched off: webhooks and this keep them
    ],
)
def test_a_change_whose_notification_was_lost_is_mirrored_by_a_scheduled_cdc_pull(
    sandbox, resources, database_url, schedule_name, settings
):
    engine = make_engine(database_url)
    sandbox.seed(customers=2)
    assert materialize_company([customers], resources=resources).success  # the first sync
    sandbox.settings(webhook_url=closed_port_url(), webhook_batch_ms=50)
    try:
        qb = sandbox.qb_client()
        edited = QBCustomer.get(sorted(company_names(engine))[1], qb=qb)
        edited.CompanyName = "Edited while deliveries were dropped"
        edited.save(qb=qb)
    finally:
        sandbox.settings(webhook_url="")
    with session_scope(engine) as session:  # nothing reached the receiver: no pull would be launched for it
        assert session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == 0

    assert "customers" in assets_pulled_by(schedule_name, settings, database_url)
    result = materialize_company([customers], resources=resources)
    assert result.success and metadata_of(result, "customers")["pull_mode"] == "cdc"

    in_quickbooks = {r["Id"]: r.get("CompanyName") for r in sandbox.dump("Customer")["records"]}
    assert company_names(engine) == in_quickbooks
    assert "Edited while deliveries were dropped" in company_names(engine).values()


def test_the_catch_up_skips_when_the_hourly_sync_pulls_everything_by_cdc(database_url):
    built = build_definitions(Settings())
    with dg.instance_for_test() as instance:
        tick = schedule_tick(built, "daily_catch_up", instance, database_url)
    assert not tick.run_requests and "hourly sync" in tick.skip_message


def test_invoices_switched_off_are_mirrored_by_the_catch_up_which_pushes_no_orders(database_url):
    built = build_definitions(Settings(auto_sync_orders=False))
    with dg.instance_for_test() as instance:
        (request,) = schedule_tick(built, "daily_catch_up", instance, database_url).run_requests
    # payments and credit memos go with the invoices (jobs.hourly_selection)
    assert [key.to_user_string() for key in request.asset_selection] == ["credit_memos", "invoices", "payments"]
    assert request.run_config == {"ops": {"invoices": {"config": {"push_orders": False}}}}
    assert request.partition_key == DEFAULT_REALM and request.tags["qb_pipeline/realm"] == DEFAULT_REALM  # per company
    job = built.resolve_job_def("quickbooks_changes_job")
    assert dg.validate_run_config(job, request.run_config)  # raises when the job would refuse it


def test_cloudevents_is_the_default_wherever_a_webhook_format_is_chosen():
    """Intuit sends CloudEvents only since 2026: the sandbox's command and its emitter default to it."""
    assert {param.name: param.default for param in sandbox_serve.params}["webhook_format"] == "cloudevents"
    assert WebhookEmitter("4620816365", "token").settings()["webhook_format"] == "cloudevents"

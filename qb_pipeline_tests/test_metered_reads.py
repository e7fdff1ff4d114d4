"""Intuit meters reads (queries, CDC, reads, reports) per month; writes are free. The sync reads as little
as it can and counts what it reads, per company and day, beside what the sandbox counted."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import dagster as dg
import sqlalchemy as sa
from quickbooks.objects.item import Item as QBItem

from qb_pipeline.assets.invoices import invoices
from qb_pipeline.commands.status import collect_status
from qb_pipeline.db import queries
from qb_pipeline.db.api_calls import ApiCallCount
from qb_pipeline.db.models import Item
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.definitions import build_definitions
from qb_pipeline.jobs import PULL_TAG
from qb_pipeline.resources import QuickBooksResource
from qb_pipeline.schedules import catch_up_assets
from qb_pipeline.settings import Settings
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of, schedule_tick
from qb_pipeline_tests.fixtures.metering import catch_up_run, hourly_run, sandbox_reads_and_writes
from qb_pipeline_tests.fixtures.orders import add_named_order


def counted_here(engine) -> tuple[int, int]:
    """(reads, writes) the project database holds for today, every company."""
    with session_scope(engine) as session:
        rows = dict(
            session.execute(sa.select(ApiCallCount.kind, sa.func.sum(ApiCallCount.calls)).group_by("kind")).all()
        )
    return int(rows.get("read", 0)), int(rows.get("write", 0))


def test_an_idle_hour_costs_one_read_for_every_entity_mirrored(sandbox, resources):
    sandbox.seed(preset="demo")
    assert hourly_run(resources).success  # the first sync reads everything
    sandbox.reset_counters()
    result = hourly_run(resources)
    assert result.success
    calls = sandbox.counters()["calls"]
    assert sandbox_reads_and_writes(sandbox.counters()) == (1, 0), calls  # one CDC call, nothing else
    (cdc,) = [kind for kind in calls if kind.startswith("cdc")]
    assert metadata_of(result, "customers")["pull_mode"] == "cdc"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["quickbooks_connection"] and checks["quickbooks_read_budget"] and all(checks.values())


def test_with_webhooks_doing_the_pulls_an_idle_day_costs_the_daily_catch_up_alone(sandbox, resources, database_url):
    settings = Settings(pull_on_webhooks_only=True)
    sandbox.seed(preset="demo")
    assert hourly_run(resources).success  # the first sync reads everything
    sandbox.reset_counters()
    with dg.instance_for_test() as instance:  # the tags the schedule's run of the company carries
        (request,) = schedule_tick(build_definitions(settings), "hourly_sync", instance, database_url).run_requests
    tags = request.tags
    assert tags[PULL_TAG] == "webhooks"
    for _hour in range(3):
        result = hourly_run(resources, tags=tags)
        assert result.success and metadata_of(result, "customers")["pull_mode"] == "webhooks"
    assert sandbox_reads_and_writes(sandbox.counters()) == (0, 0), sandbox.counters()["calls"]
    assert metadata_of(result, "invoices")["mirrored"] == 0
    assert sorted(catch_up_assets(settings)) == ["credit_memos", "customers", "invoices", "items", "payments"]
    assert catch_up_run(resources, settings).success
    assert sandbox_reads_and_writes(sandbox.counters()) == (1, 0), sandbox.counters()["calls"]


def test_a_change_made_while_a_shared_cdc_answer_waits_is_pulled_next_time(sandbox, make_gateway, engine):
    """Items take their part of the CDC answer the customers pull asked for; an item changed in between is
    not in it, and must not be skipped: the items cursor stops at when that call was sent."""
    sandbox.seed(preset="demo")
    gateway = make_gateway()
    for entity in ("Customer", "Item"):
        pull_name_list(gateway, engine, entity)  # the first, full pulls
    time.sleep(1.1)  # QuickBooks stamps whole seconds: keep the full pulls' records out of what follows
    sandbox.reset_counters()
    pull_name_list(gateway, engine, "Customer", together_with=["Item"])  # asks for both
    time.sleep(1.1)  # the edit's whole-second stamp falls after that call
    qb = sandbox.qb_client()
    item_id = sandbox.dump("Item")["records"][0]["Id"]
    edited = QBItem.get(item_id, qb=qb)
    edited.Description = "changed between the two pulls"
    edited.save(qb=qb)
    assert pull_name_list(gateway, engine, "Item").mode == "cdc"  # its part of the earlier answer
    assert sandbox.counters()["calls"].get("cdc 200") == 1
    edited_at = next(r for r in sandbox.dump("Item")["records"] if r["Id"] == item_id)["MetaData"]["LastUpdatedTime"]
    with session_scope(engine) as session:
        cursor = queries.read_cursor(session, sandbox.realm_id, "Item")
    assert cursor < datetime.fromisoformat(edited_at)  # the cursor does not pass a change it has not read
    pull_name_list(gateway, engine, "Item", overlap=timedelta(0))  # no overlap to make up for a cursor too far
    with session_scope(engine) as session:
        description = session.scalar(sa.select(Item.description).where(Item.qb_id == item_id))
    assert description == "changed between the two pulls"


def test_reads_and_writes_are_counted_per_day_as_the_sandbox_counted_them(sandbox, resources, database_url):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    sandbox.reset_counters()
    assert hourly_run(resources).success
    add_named_order(engine, "METER-1", "Cool Cars", "Rocks:2")
    add_named_order(engine, "METER-2", "Cool Cars", "Rocks:3")
    result = materialize_company([invoices], resources=resources)
    assert metadata_of(result, "invoices")["pushed"] == 2
    reads, writes = sandbox_reads_and_writes(sandbox.counters())
    assert writes >= 1 and counted_here(engine) == (reads, writes)
    meta = metadata_of(result, "invoices")
    assert meta["quickbooks_reads_month_to_date"] == reads
    shown = collect_status(engine)["quickbooks_reads"]
    assert (shown["month_to_date"], shown["writes_month_to_date"]) == (reads, writes)
    assert shown["projected_month"] >= reads


def test_a_push_never_reads_back_the_invoices_it_just_created(sandbox, resources, database_url):
    sandbox.seed(preset="demo")
    engine = make_engine(database_url)
    assert hourly_run(resources).success  # customers and items mirrored
    for n in range(5):
        add_named_order(engine, f"BACK-{n}", "Cool Cars", "Rocks:1")
    sandbox.reset_counters()
    assert metadata_of(materialize_company([invoices], resources=resources), "invoices")["pushed"] == 5
    calls = sandbox.counters()["calls"]
    # The preferences (is the numbering ours?), one batch, and the mirror's CDC: the created invoices are
    # mirrored from the batch's answer, none is read back.
    assert not [kind for kind in calls if kind.startswith("read invoice")], calls
    assert sandbox_reads_and_writes(sandbox.counters()) == (2, 1), calls


def test_the_read_budget_check_fails_and_the_run_log_warns_near_the_budget(sandbox, resources):
    sandbox.seed(preset="demo")
    fields = ("database", "environment", "sandbox_connection_file", "token_key", "timeout_seconds")
    small = QuickBooksResource(
        **{name: getattr(resources["quickbooks"], name) for name in fields},
        monthly_read_budget=20,
        read_budget_warn_share=0.5,
    )
    with dg.instance_for_test() as instance:
        result = hourly_run({**resources, "quickbooks": small}, instance=instance)  # a first sync: 10 reads
        assert result.success
        logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    (budget,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "quickbooks_read_budget"]
    assert not budget.passed
    assert budget.description.startswith("QuickBooks reads this month: 10, 50% of the monthly budget of 20")
    assert any("QB_MONTHLY_READ_BUDGET" in message for message in logged)

"""Materializing `customers` and `items` with real Dagster against the sandbox."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.checks import customers_linked, items_linked, quickbooks_connection
from qb_pipeline.db.models import SyncLog
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.token_cipher import new_key
from qb_pipeline.resources import QuickBooksResource
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.name_lists import add_customers_and_items


def materialize(resources):
    return materialize_company([customers, items], resources=resources)


@pytest.fixture
def first_sync(sandbox, resources, database_url):
    """The demo company in QuickBooks; a customer and an item made here only; customers and items materialized
    once: that run."""
    sandbox.seed(preset="demo")
    add_customers_and_items(make_engine(database_url), ["Walk-in Customer"], {"Gift Wrap": "3.00"})
    result = materialize(resources)
    assert result.success
    return result


def test_a_sync_creates_the_customers_and_items_made_here_in_quickbooks(first_sync, sandbox):
    assert metadata_of(first_sync, "customers")["created_in_quickbooks"] == 1
    assert metadata_of(first_sync, "items")["created_in_quickbooks"] == 1
    gift_wrap = next(r for r in sandbox.dump("Item")["records"] if r["Name"] == "Gift Wrap")
    assert gift_wrap["IncomeAccountRef"]["value"] == "1" and gift_wrap["UnitPrice"] == 3.0


def test_the_customers_page_counts_what_is_linked_and_what_the_sync_cost(first_sync, sandbox):
    meta = metadata_of(first_sync, "customers")
    demo_customers = len(sandbox.dump("Customer")["records"])
    assert meta["total"] == meta["linked"] == demo_customers
    assert meta["api_calls"] >= 2 and isinstance(meta["seconds"], float) and meta["dagster/row_count"] == demo_customers


def test_each_sync_is_in_the_activity_log(first_sync, database_url):
    with session_scope(make_engine(database_url)) as session:
        log = session.scalars(sa.select(SyncLog).order_by(SyncLog.id)).all()
    assert [(row.entity, row.outcome) for row in log] == [("CUSTOMERS", "SUCCESS"), ("ITEMS", "SUCCESS")]
    assert "pushed 1 new" in log[0].message


def test_the_next_sync_reads_the_changes_only_and_creates_nothing_again(first_sync, resources):
    second = materialize(resources)
    assert metadata_of(second, "customers")["pull_mode"] == "cdc"
    assert metadata_of(second, "customers")["created_in_quickbooks"] == 0


def test_checks_pass_after_a_sync(sandbox, resources):
    sandbox.seed(preset="demo")
    result = materialize_company(
        [customers, items, customers_linked, items_linked, quickbooks_connection], resources=resources
    )
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"customers_linked": True, "items_linked": True, "quickbooks_connection": True}


def test_quickbooks_down_fails_the_run_with_a_clear_message_and_logs_it(sandbox, resources, database_url):
    sandbox.inject("503", count=50)
    result = materialize_company([customers], resources=resources, raise_on_error=False)
    assert not result.success
    messages = " ".join(str(e.event_specific_data) for e in result.all_events if e.is_step_failure)
    assert "HTTP 503 (gave up after 4 attempts)" in messages
    with session_scope(make_engine(database_url)) as session:
        row = session.scalars(sa.select(SyncLog)).one()
    assert row.outcome == "FAILED" and "503" in row.message


def test_the_connection_check_fails_with_the_reason_when_the_sandbox_is_not_running(resources, tmp_path):
    quickbooks = QuickBooksResource(
        database=resources["database"],
        environment="sandbox-local",
        token_key=new_key(),
        sandbox_connection_file=str(tmp_path / "nowhere" / "connection.json"),
    )
    result = dg.materialize(  # the check alone, as from the UI: no partition, the default company
        [quickbooks_connection],
        resources={**resources, "quickbooks": quickbooks},
        selection=dg.AssetSelection.checks(quickbooks_connection),
        raise_on_error=False,
    )
    assert result.success  # a failed check, not an errored run
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "does not exist: start the sandbox" in evaluation.description


def test_the_assets_and_checks_of_one_run_share_one_throttle(sandbox, resources):
    """QuickBooks' limits are per company: a second asset of the same run must not start a fresh count."""
    sandbox.seed(preset="demo")
    with dg.build_resources(resources) as ready:
        first, second = ready.quickbooks.gateway(), ready.quickbooks.gateway()
        limit = first.throttle.limits["second"]
        for _ in range(limit):
            first.count("Customer")
        second.count("Item")  # one call more than the window allows
        assert second.throttle.waits == 1
        assert (first.stats.total_calls, second.stats.total_calls) == (limit, 1)  # each counts its own

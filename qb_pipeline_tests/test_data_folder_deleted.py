"""The data folder deleted under a running `make dev`: the stack says so once and stops; a new database is
then pulled in full at once, though Dagster remembers customers and items as synced."""

from __future__ import annotations

import shutil
import subprocess
import sys

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.db import queries
from qb_pipeline.db.models import Customer
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.definitions import defs
from qb_pipeline.dev_process import running_dev_stack
from qb_pipeline.partitions import partition_tag
from qb_pipeline.sandbox.server import DEFAULT_REALM
from qb_pipeline_tests.fixtures.dagster_runs import tick
from qb_pipeline_tests.helpers import PROJECT_DIR, wait_for

CHANGES_SENSOR = "quickbooks_changes_sensor"


@pytest.fixture
def remembers_syncs(instance):
    """A Dagster instance under which an earlier database had customers and items synced."""
    for asset in ("customers", "items"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset))
    return instance


def test_a_fresh_stack_with_nothing_materialized_leaves_the_pulls_to_the_automation(database_url, instance):
    # nothing materialized; the automation sensor syncs what is missing
    assert tick(CHANGES_SENSOR, database_url, instance).skip_message == "no QuickBooks change notification is waiting"


def test_a_database_never_pulled_into_is_pulled_in_full_though_dagster_remembers_syncs(database_url, remembers_syncs):
    (request,) = tick(CHANGES_SENSOR, database_url, remembers_syncs).run_requests
    assert sorted(key.path[-1] for key in request.asset_selection) == ["customers", "items"]


def full_pull_run(instance, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    job = defs.resolve_job_def("quickbooks_changes_job")
    return instance.create_run_for_job(job_def=job, status=status, tags=partition_tag(DEFAULT_REALM))


def test_no_second_full_pull_starts_while_one_runs(database_url, remembers_syncs):
    tick(CHANGES_SENSOR, database_url, remembers_syncs)
    full_pull_run(remembers_syncs, dg.DagsterRunStatus.STARTED)
    assert tick(CHANGES_SENSOR, database_url, remembers_syncs).skip_message == (
        "a full pull of a new database is running now"
    )


def test_a_failed_full_pull_is_tried_again_shortly_not_at_every_tick(database_url, remembers_syncs):
    tick(CHANGES_SENSOR, database_url, remembers_syncs)
    remembers_syncs.report_run_failed(full_pull_run(remembers_syncs, dg.DagsterRunStatus.STARTED))
    assert "pulled again shortly" in tick(CHANGES_SENSOR, database_url, remembers_syncs).skip_message


def test_only_what_this_database_was_never_pulled_into_is_pulled_in_full(database_url, engine, remembers_syncs):
    with session_scope(engine) as session:  # what a full pull of customers leaves
        queries.advance_cursor(session, "9130", "Customer", utcnow(), full=True)
    (request,) = tick(CHANGES_SENSOR, database_url, remembers_syncs).run_requests
    assert [key.path[-1] for key in request.asset_selection] == ["items"]


def customers_here(stack) -> int:
    try:
        with session_scope(make_engine(stack.database_url, create=False)) as session:
            return session.scalar(sa.select(sa.func.count()).select_from(Customer))
    except Exception:  # not there yet
        return 0


@pytest.mark.slow
def test_a_deleted_data_folder_stops_the_stack_and_the_new_database_is_pulled_in_full(tmp_path):
    with running_dev_stack(tmp_path) as stack:
        in_quickbooks = len(stack.sandbox.control("GET", "dump/Customer", timeout=10)["records"])
        wait_for(lambda: customers_here(stack) == in_quickbooks, timeout=120, what="the first sync of customers")
        shutil.rmtree(tmp_path / "data")
        assert stack.process.wait(timeout=60) == 1
        said = stack.output(100_000)
        assert said.count("was deleted while make dev ran") == 1, said[-3000:]
        assert f"[dev] the data folder {tmp_path / 'data'} was deleted while make dev ran: stopping" in said
        status = subprocess.run(
            [sys.executable, "-m", "qb_pipeline.cli", "status"],
            env=stack.env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 1 and "there is no database at" in status.stderr
        assert not (tmp_path / "data").exists()  # nothing made a database, a key or the folder

    # make dev again, with the Dagster home that remembers the earlier syncs.
    with running_dev_stack(tmp_path) as stack:
        in_quickbooks = len(stack.sandbox.control("GET", "dump/Customer", timeout=10)["records"])
        wait_for(lambda: customers_here(stack) == in_quickbooks, timeout=120, what="the new database's full pull")

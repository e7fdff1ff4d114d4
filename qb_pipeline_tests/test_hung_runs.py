"""A hung QuickBooks run ends: Dagster's run monitoring fails it past QB_MAX_RUNTIME_SECONDS, the
orders it claimed go back to pending, and the next push sends them — once."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient

from qb_pipeline.db.models import Order
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.dev_process import running_dev_stack
from qb_pipeline_tests.fixtures.dev_stack import cli_on, invoices_in_sandbox
from qb_pipeline_tests.helpers import wait_for

pytestmark = pytest.mark.slow


def idle(home) -> bool:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return not instance.get_run_records(
            dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                ]
            ),
            limit=1,
        )


def add_order(stack, number: str) -> None:
    added = cli_on(stack, "orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", number)
    assert added.returncode == 0, added.stderr


def test_a_push_past_its_maximum_run_time_is_failed_and_its_orders_are_released(tmp_path):
    with running_dev_stack(
        tmp_path,
        QB_MAX_RUNTIME_SECONDS="40",
        QB_TIMEOUT_SECONDS="60",
        QB_SENSOR_INTERVAL_SECONDS="2",
        # the hung batch may still be applied: the next push looks it up once the sandbox (25 s a call) is
        # surely done with it, not after QuickBooks' 125 s
        QB_REQUEST_LIMIT_SECONDS="30",
    ) as stack:
        engine = make_engine(stack.database_url)
        add_order(stack, "FAST-1")  # the first push also mirrors customers and items
        wait_for(lambda: "FAST-1" in invoices_in_sandbox(stack), timeout=90, what="the first invoice")
        wait_for(lambda: idle(tmp_path), timeout=120, what="the stack's start-up runs to finish", interval=1)
        stack.sandbox.control("POST", "settings", {"latency_ms": 25_000})  # every call answers in 25 s
        add_order(stack, "SLOW-1")

        def state() -> tuple[str, str | None]:
            with session_scope(engine) as session:
                order = session.scalars(sa.select(Order).where(Order.order_number == "SLOW-1")).one()
                return order.status.value, order.claimed_by

        wait_for(lambda: state()[0] == "pushing", timeout=90, what="the slow push to claim the order")
        client = DagsterGraphQLClient("127.0.0.1", port_number=stack.ui_port)
        run_id = state()[1]
        wait_for(
            lambda: client.get_run_status(run_id).value == "FAILURE",
            timeout=120,
            what="run monitoring to fail the hung run",
            interval=1,
        )
        assert state() == ("pending", None)  # released, not left claimed by a dead run
        stack.sandbox.control("POST", "settings", {"latency_ms": 0})
        wait_for(lambda: state()[0] == "synced", timeout=120, what="the next push", interval=1)
        numbers = [r.get("DocNumber") for r in stack.sandbox.control("GET", "dump/Invoice")["records"]]
        assert numbers.count("SLOW-1") == 1

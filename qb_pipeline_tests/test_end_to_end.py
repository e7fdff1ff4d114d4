"""What a newcomer does after `make dev`: add an order, watch it become an invoice, look at the UI.

Starts the real stack (`qb-pipeline dev`: sandbox + dagster dev with its daemon) in a temporary home.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from quickbooks.objects.customer import Customer as QBCustomer

from qb_pipeline.db.models import Customer
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline_tests.browser import HEADLESS, chromium
from qb_pipeline_tests.fixtures.dev_stack import ARTIFACTS, CLI, cli_on, invoices_in_sandbox, stack_instance
from qb_pipeline_tests.fixtures.sandbox import qb_client_for
from qb_pipeline_tests.helpers import PROJECT_DIR, free_port, wait_for

pytestmark = pytest.mark.slow


def test_a_fresh_stack_syncs_customers_and_items_without_waiting_for_the_hour(stack):
    def materialized() -> bool:
        with stack_instance(stack) as instance:
            return all(instance.get_latest_materialization_event(dg.AssetKey(name)) for name in ("customers", "items"))

    wait_for(
        materialized, timeout=120, what="customers and items to be materialized by declarative automation", interval=1
    )


def test_make_dev_lists_the_sandbox_company_without_any_command(stack):
    listed = json.loads(cli_on(stack, "companies", "list", "--json").stdout)
    assert [(c["realm_id"], c["environment"]) for c in listed] == [(stack.sandbox.realm_id, "sandbox-local")]
    status = cli_on(stack, "status").stdout
    assert len([line for line in status.splitlines() if line.startswith("Company ")]) == 1


def test_an_order_added_with_the_cli_becomes_an_invoice_within_a_minute(stack):
    added = cli_on(
        stack, "orders", "add", "--customer", "Cool Cars", "--line", "Rocks:2", "--line", "Sod:4", "--number", "E2E-1"
    )
    assert added.returncode == 0, added.stderr
    started = time.monotonic()
    wait_for(lambda: "E2E-1" in invoices_in_sandbox(stack), timeout=60, what="the invoice in QuickBooks")
    print(f"order to invoice: {time.monotonic() - started:.1f} s")
    invoice = invoices_in_sandbox(stack)["E2E-1"]
    assert invoice["TotalAmt"] == 2 * 9.95 + 4 * 4.75
    shown = json.loads(cli_on(stack, "orders", "show", "E2E-1", "--json").stdout)
    assert shown["status"] == "synced" and shown["qb_invoice_id"] == invoice["Id"]


def company_partition(stack) -> dict[str, str]:
    """The tag of a run of the bundled sandbox's company: its partition of `companies`."""
    return {"dagster/partition": stack.sandbox.realm_id}


def test_the_hourly_job_launched_through_graphql_succeeds(stack):
    client = DagsterGraphQLClient("127.0.0.1", port_number=stack.ui_port)
    run_id = client.submit_job_execution(  # a run of the company's partition, as the schedule requests it
        "hourly_sync_job",
        repository_location_name="qb_pipeline",
        repository_name="__repository__",
        tags=company_partition(stack),
    )

    def finished() -> bool:
        try:
            return client.get_run_status(run_id).value in ("SUCCESS", "FAILURE", "CANCELED")
        except DagsterGraphQLClientError:
            return False

    wait_for(finished, timeout=120, what="the hourly job to finish", interval=1)
    assert client.get_run_status(run_id).value == "SUCCESS"


def test_two_quickbooks_materializations_launched_at_once_run_one_after_the_other(stack):
    """As from the UI's Materialize button: no company tag, only their partition (dagster/partition, limited per value) keeps them apart."""
    client = DagsterGraphQLClient("127.0.0.1", port_number=stack.ui_port)
    stack.sandbox.control("POST", "settings", {"latency_ms": 700})  # each run lasts a few seconds
    try:
        run_ids = [
            client.submit_job_execution(
                "__ASSET_JOB",
                repository_location_name="qb_pipeline",
                repository_name="__repository__",
                asset_selection=[name],
                tags=company_partition(stack),  # the partition the UI asks for, not its company tag
            )
            for name in ("customers", "items")
        ]
        wait_for(
            lambda: all(
                client.get_run_status(run_id).value in ("SUCCESS", "FAILURE", "CANCELED") for run_id in run_ids
            ),
            timeout=180,
            what="both runs to finish",
            interval=1,
        )
    finally:
        stack.sandbox.control("POST", "settings", {"latency_ms": 0})
    with stack_instance(stack) as instance:
        records = sorted((instance.get_run_record_by_id(run_id) for run_id in run_ids), key=lambda r: r.start_time)
    assert [r.dagster_run.status.value for r in records] == ["SUCCESS", "SUCCESS"]
    first, second = records
    assert second.start_time >= first.end_time, (
        f"the runs overlapped: {first.start_time:.1f}-{first.end_time:.1f} and {second.start_time:.1f}-{second.end_time:.1f}"
    )


_chromium = chromium


def _render(url: str, screenshot=None) -> str:
    args = [
        _chromium(),
        *HEADLESS,
        f"--user-data-dir={ARTIFACTS / '.chromium-profile'}",
        "--window-size=1440,1000",
        "--virtual-time-budget=20000",
    ]
    if screenshot:
        return subprocess.run(
            [*args, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120
        ).stderr
    return subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (make test installs it with apt-get)")
def test_the_ui_shows_the_assets_and_the_sensor(stack):
    ARTIFACTS.mkdir(exist_ok=True)
    assets_page = _render(f"{stack.ui}/assets")
    for name in ("customers", "items", "invoices", "price_levels", "sync_health"):
        assert f">{name}<" in assets_page, f"asset {name} is not on the assets page"
    automation = _render(f"{stack.ui}/automation")
    assert "new_orders_sensor" in automation and "hourly_sync" in automation
    _render(f"{stack.ui}/asset-groups", screenshot=ARTIFACTS / "asset-graph.png")
    assert (ARTIFACTS / "asset-graph.png").stat().st_size > 10_000
    # After a fresh start customers are materialized (declarative automation), so their page has numbers;
    # sync_health was materialized by the hourly job (the test above).
    customers_page = _render(f"{stack.ui}/assets/customers")
    assert "Never materialized" not in customers_page
    health = _render(f"{stack.ui}/assets/sync_health")
    assert "sync_health" in health and "Never materialized" not in health
    _render(f"{stack.ui}/assets/sync_health", screenshot=ARTIFACTS / "sync-health.png")
    assert (ARTIFACTS / "sync-health.png").stat().st_size > 10_000


def test_a_customer_edited_in_quickbooks_reaches_our_table_by_itself(stack):
    """Through real processes: the sandbox notifies, the receiver stores, the sensor pulls by CDC."""
    sandbox = stack.sandbox
    qb = qb_client_for(sandbox.connection, sandbox.control("POST", "tokens/mint")["refresh_token"])
    customer = QBCustomer.filter(DisplayName="Kate Whelan", qb=qb)[0]
    customer.CompanyName = "Whelan Webhooks Ltd"
    customer.save(qb=qb)
    engine = make_engine(stack.database_url)

    def company_name() -> str | None:
        with session_scope(engine) as session:
            return session.scalar(sa.select(Customer.company_name).where(Customer.display_name == "Kate Whelan"))

    wait_for(
        lambda: company_name() == "Whelan Webhooks Ltd",
        timeout=90,
        what="the change in our customers table",
        interval=0.5,
    )
    shown = json.loads(cli_on(stack, "status", "--json", DAGSTER_HOME=str(stack.home / "dagster")).stdout)
    assert shown["webhook_events"]["received"] >= 1


def test_status_on_the_running_stack_shows_the_daemon_alive_and_every_sensor_running(stack):
    shown = json.loads(cli_on(stack, "status", "--json", DAGSTER_HOME=str(stack.home / "dagster")).stdout)
    assert shown["dagster_daemon"].startswith("alive")
    assert shown["automation"] == {
        "companies_sensor": "RUNNING",
        "daily_catch_up": "RUNNING",
        "hourly_sync": "RUNNING",
        "new_orders_sensor": "RUNNING",
        "quickbooks_changes_sensor": "RUNNING",
        "quickbooks_automation_sensor": "RUNNING",
    }


def dev(stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Another `qb-pipeline dev`, as a user would start a second one."""
    return subprocess.run(
        [*CLI, "dev", *args], cwd=PROJECT_DIR, env={**stack.env, **env}, capture_output=True, text=True, timeout=120
    )


def test_a_second_make_dev_on_the_same_data_folder_changes_nothing(stack, tmp_path):
    connection_file = stack.home / "data" / "sandbox" / "connection.json"
    before = (connection_file.stat().st_mtime, connection_file.read_text())
    second = dev(
        stack,
        "--port",
        str(free_port()),
        "--sandbox-port",
        str(free_port()),
        "--data-dir",
        str(stack.home / "data"),
        "--dagster-home",
        str(tmp_path / "other-home"),
    )
    assert second.returncode != 0 and "Traceback" not in second.stderr
    assert "already running" in second.stderr and f"UI {stack.ui}" in second.stderr
    assert (connection_file.stat().st_mtime, connection_file.read_text()) == before
    assert stack.sandbox.control("GET", "settings")["limits"] == "off"  # the first one still serves


def another_dev(stack, tmp_path, ui_port: int, **env: str) -> subprocess.CompletedProcess:
    """A second `qb-pipeline dev` in a folder and home of its own, its UI on `ui_port`."""
    folders = ("--data-dir", str(tmp_path / "data"), "--dagster-home", str(tmp_path / "home"))
    return dev(stack, "--port", str(ui_port), "--sandbox-port", str(free_port()), *folders, **env)


def test_a_busy_port_starts_nothing_and_says_which(stack, tmp_path):
    busy = another_dev(stack, tmp_path, stack.ui_port)
    assert busy.returncode != 0 and f"the Dagster UI's {stack.ui_port}" in busy.stderr
    assert "port already in use" in busy.stderr
    assert not (tmp_path / "data" / "qb_pipeline.sqlite").exists()  # nothing was touched


def test_a_bad_setting_starts_nothing_and_says_it_in_one_line(stack, tmp_path):
    bad = another_dev(stack, tmp_path, free_port(), QB_DEMO_ORDERS_PER_MINUTE="lots")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "Error: QB_DEMO_ORDERS_PER_MINUTE='lots' is not allowed: use a number from 0 to 600"
    ]
    assert not (tmp_path / "data" / "qb_pipeline.sqlite").exists()  # nothing was touched


def test_a_type_is_synced_from_a_terminal_on_the_running_dagster(stack):
    done = subprocess.run(
        [*CLI, "sync", "items", "--wait", "--url", stack.ui], env=stack.env, capture_output=True, text=True, timeout=300
    )
    with stack_instance(stack) as instance:
        runs = [(r.dagster_run.job_name, r.dagster_run.status.value) for r in instance.get_run_records(limit=10)]
    assert done.returncode == 0, f"{done.stderr}\nruns: {runs}"
    assert "sync_items_job launched: run " in done.stdout and f"{stack.ui}/runs/" in done.stdout
    assert done.stdout.strip().endswith("SUCCESS")


def test_a_sync_from_a_terminal_with_no_dagster_answering_says_how_to_start_it(stack):
    nowhere = f"http://127.0.0.1:{free_port()}"
    nobody = cli_on(stack, "sync", "items", "--url", nowhere)
    assert nobody.returncode == 1 and nobody.stderr.strip().splitlines() == [
        f"Error: no Dagster answers at {nowhere}: start it with `make dev` (or add --in-process to run the sync here)"
    ]


def test_ctrl_c_stops_every_process_it_started(stack):
    process = stack.process
    stack.interrupt()
    process.wait(60)
    with pytest.raises(ProcessLookupError):  # no process of its group is left
        os.killpg(process.pid, 0)
    for port in (stack.ui_port, stack.sandbox_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"

"""The qb-pipeline command as a person runs it, against a real sandbox and a real database: through click's
CliRunner, and as a real process where the process is the point (OAuth's listener, a fresh interpreter)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests
import sqlalchemy as sa

from qb_pipeline_tests.fixtures.cli import invoke
from qb_pipeline_tests.helpers import free_port

CLI = [sys.executable, "-m", "qb_pipeline.cli"]


def test_auth_connect_runs_the_oauth_code_flow_against_the_sandbox(run, sandbox):
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "auth", "connect", "--no-browser", "--timeout", "60"],
        env={**run.process_env, "QB_REDIRECT_URI": f"http://127.0.0.1:{port}/callback"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = ""
    while not url.startswith("http"):
        url = process.stdout.readline().strip()
    # The person's browser: the sandbox approves at once and redirects to our listener.
    assert "state=" in url and requests.get(url, timeout=10).text.startswith("Connected to QuickBooks")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"connected to QuickBooks company {sandbox.realm_id}" in out
    status = run("auth", "status").stdout
    assert sandbox.realm_id in status and "refresh token expires" in status
    assert sandbox.connection["client_secret"] not in out + err + status


def test_auth_connect_gives_the_code_exchange_qb_timeout_seconds(run, sandbox):
    """A token endpoint that does not answer the code exchange fails `auth connect` after
    QB_TIMEOUT_SECONDS, saying so (not "refused the authorization code")."""
    sandbox.inject("timeout", count=1, seconds=8, path_contains="/oauth2/v1/tokens/bearer")
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "auth", "connect", "--no-browser", "--timeout", "60"],
        env={**run.process_env, "QB_REDIRECT_URI": f"http://127.0.0.1:{port}/callback", "QB_TIMEOUT_SECONDS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = ""
    while not url.startswith("http"):
        url = process.stdout.readline().strip()
    assert requests.get(url, timeout=10).text.startswith("Connected to QuickBooks")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out + err
    assert err.strip() == "Error: the QuickBooks token endpoint did not answer within 1 s", err
    assert "not connected" in run("auth", "status", check=False).stderr  # nothing was stored


def test_orders_add_show_status_and_log(run):
    number = run(
        "orders",
        "add",
        "--customer",
        "O'Brien & Sons",
        "--line",
        "Rocks:3",
        "--line",
        "Sod:2.5:4.75",
        "--number",
        "CLI-1",
    ).stdout.strip()
    assert number == "CLI-1"
    shown = json.loads(run("orders", "show", "CLI-1", "--json").stdout)
    assert shown["status"] == "pending" and shown["lines"][1] == {
        "item": "Sod",
        "quantity": "2.5",
        "unit_price": "4.75",
        "amount": None,
        "price_source": "explicit",
    }
    status = json.loads(run("status", "--json").stdout)
    assert status["orders"] == {"pending": 1} and status["customers"] == {"linked": 0, "total": 0}
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:00:00", status["next_scheduled_sync"])
    assert "no activity" in run("log", "--since", "1h").stdout
    duplicate = run("orders", "add", "--customer", "X", "--line", "A:1", "--number", "CLI-1", check=False)
    assert duplicate.returncode == 1 and duplicate.stderr.strip() == "Error: order CLI-1 already exists"
    bad = run("orders", "add", "--customer", "X", "--line", "A:lots", check=False)
    assert bad.returncode == 1 and bad.stderr == "Error: --line 'A:lots': quantity and price must be numbers\n"


def test_pricing_import_reports_bad_lines_and_export_round_trips(run, tmp_path):
    from qb_pipeline.db.models import Customer, Item
    from qb_pipeline.db.session import make_engine, session_scope

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'qb_pipeline.sqlite'}")
    with session_scope(engine) as session:
        session.add_all([Customer(display_name="Acme"), Item(name="Widget")])
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "kind,customer,price_level,item,price,percent\ncustomer_price,Acme,,Widget,9.50,\n"
        "customer_price,Acme,,Gizmo,1.00,\n"
    )
    strict = run("pricing", "import", str(prices), "--strict", check=False)
    assert strict.returncode == 1 and "prices.csv:3: item 'Gizmo' is not in the item list" in strict.stderr
    assert "nothing applied" in strict.stderr
    lenient = run("pricing", "import", str(prices), check=False)
    assert lenient.returncode == 1 and "applied 1 row, 1 rejected" in lenient.stdout
    assert "customer_price,Acme,,Widget,9.50" in run("pricing", "export").stdout


def test_commands_explain_an_unmigrated_database(tmp_path):
    import sqlite3

    (tmp_path / "empty").mkdir()
    sqlite3.connect(tmp_path / "empty" / "qb_pipeline.sqlite").close()  # a database, with no tables
    result = invoke("status", env={"QB_DATA_DIR": str(tmp_path / "empty"), "QB_DATABASE_URL": None})
    assert result.returncode == 1 and "has no tables: make them with `qb-pipeline db upgrade`" in result.stderr


@pytest.mark.parametrize("environment", ["production", "sandbox"])
def test_intuit_without_a_token_key_stops_with_one_line_and_writes_no_key_file(run, tmp_path, environment):
    env = {"QB_ENVIRONMENT": environment, "QB_CLIENT_ID": "id", "QB_CLIENT_SECRET": "secret", "QB_REALM_ID": "1"}
    result = run("auth", "new-key")  # needs no key, and works
    assert len(result.stdout.strip()) == 44
    (tmp_path / "data" / "token.key").unlink()  # the bundled sandbox's, made by db upgrade
    for command in (("auth", "status"), ("auth", "connect", "--no-browser", "--timeout", "1")):
        result = run(*command, check=False, env={**env, "QB_TOKEN_KEY": ""})
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert "QB_TOKEN_KEY is not set" in result.stderr and "qb-pipeline auth new-key" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "token.key").exists()


def test_a_run_against_intuit_without_a_token_key_writes_no_key_file(database_url, tmp_path, monkeypatch):
    from qb_pipeline.db.token_cipher import TokenKeyError
    from qb_pipeline.resources import DatabaseResource, QuickBooksResource

    monkeypatch.setenv("QB_DATA_DIR", str(tmp_path / "pod"))
    resource = QuickBooksResource(
        database=DatabaseResource(url=database_url),
        environment="production",
        client_id="id",
        client_secret="s",
        realm_id="1",
    )
    with pytest.raises(TokenKeyError, match="QB_TOKEN_KEY is not set"):
        resource.gateway()
    assert not (tmp_path / "pod" / "token.key").exists()


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("QB_SYNC_FREQUENCY_HOURS", "0", "a whole number from 1 to 24"),
        ("QB_SYNC_FREQUENCY_HOURS", "two", "a whole number from 1 to 24"),
        ("QB_AUTO_SYNC_ORDERS", "maybe", "true or false"),
        ("QB_ENVIRONMENT", "prod", "sandbox-local or sandbox or production"),
        ("QB_TIMEOUT_SECONDS", "-1", "seconds, 0.1 to 600"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_what_it_allows(run, variable, value, allowed):
    result = run("status", check=False, env={variable: value})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"Error: {variable}={value!r} is not allowed: use {allowed}"]


def test_the_code_location_refuses_a_bad_setting_with_that_line(tmp_path):
    env = {**os.environ, "QB_SYNC_FREQUENCY_HOURS": "25", "QB_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import qb_pipeline.definitions"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert (
        "SettingsError: QB_SYNC_FREQUENCY_HOURS='25' is not allowed: use a whole number from 1 to 24" in result.stderr
    )


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("Rocks:-2", "quantity must be greater than zero"),
        ("Rocks:0", "quantity must be greater than zero"),
        ("Rocks:2:9.99500000", "price must be a number of at most 7 decimals, not negative"),
        ("Rocks:2:8.00000000", "price must be a number of at most 7 decimals, not negative"),
        (
            "Rocks:2:1.250",
            "price 1.250 reads like a number with a thousands separator: write 1.25 for that price, "
            "or 1250 without the point",
        ),
        ("Rocks:two", "quantity and price must be numbers"),
        ("Rocks:1:1e30", "price is too large (at most 999999999999)"),
        ("Rocks:1e30", "quantity is too large (at most 999999999999)"),
    ],
)
def test_orders_add_refuses_what_it_can_know_is_wrong(run, line, said):
    bad = run("orders", "add", "--customer", "Cool Cars", "--line", line, check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == f"Error: --line {line!r}: {said}\n"  # one line: no usage, no traceback
    assert json.loads(run("orders", "list", "--json").stdout) == []


def test_orders_add_keeps_a_price_of_seven_places_as_written(run):
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1000:0.1250000", "--number", "EIGHTH")
    (line,) = json.loads(run("orders", "show", "EIGHTH", "--json").stdout)["lines"]
    assert (line["quantity"], line["unit_price"]) == ("1000", "0.125")


def test_failed_orders_are_listed_and_sent_again(run):
    from qb_pipeline.db.models import Order, OrderStatus
    from qb_pipeline.db.session import make_engine, session_scope

    added = run("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", "F-1")
    assert "warning: no customer 'Nobody Yet' here yet" in added.stderr
    run("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", "F-2")
    engine = make_engine(f"sqlite:///{run.env['QB_DATA_DIR']}/qb_pipeline.sqlite")
    with session_scope(engine) as session:  # as the push leaves them
        for order in session.scalars(sa.select(Order)):
            order.status, order.status_reason = OrderStatus.FAILED, "customer 'Nobody Yet' is not in the customer list"
    listed = run("orders", "list", "--status", "failed").stdout
    assert "F-1" in listed and "F-2" in listed and "not in the customer list" in listed
    assert "1 order goes again: F-1" in run("orders", "retry", "F-1").stdout
    assert [o["order_number"] for o in json.loads(run("orders", "list", "--status", "pending", "--json").stdout)] == [
        "F-1"
    ]
    pending = run("orders", "retry", "F-1", check=False)  # F-1 is pending now
    assert pending.returncode == 1 and "not failed or blocked: F-1" in pending.stderr
    assert "1 order goes again: F-2" in run("orders", "retry", "--all-failed").stdout
    assert "Sent 1 failed or blocked order again (a person asked)" in run("log", "--since", "1h").stdout


def test_status_tells_the_truth_about_the_connection_and_automation(run):
    from datetime import timedelta

    from qb_pipeline.commands.status import connection_state
    from qb_pipeline.db.models import QBToken, SyncLog
    from qb_pipeline.db.session import make_engine, session_scope
    from qb_pipeline.db.types import utcnow
    from qb_pipeline.settings import Settings

    shown = json.loads(run("status", "--json").stdout)
    assert shown["quickbooks"]["state"] == "connects on first sync" and not shown["quickbooks"]["connected"]
    assert set(shown["automation"].values()) == {"RUNNING (by default; no Dagster instance here yet: start make dev)"}
    assert sorted(shown["automation"]) == [  # every schedule and sensor of the definitions
        "hourly_sync",
        "new_orders_sensor",
        "quickbooks_automation_sensor",
        "quickbooks_changes_sensor",
    ]
    stopped = json.loads(run("status", "--json", env={"QB_AUTO_SYNC_ORDERS": "false"}).stdout)["automation"]
    assert stopped["new_orders_sensor"].startswith("STOPPED") and stopped["hourly_sync"].startswith("RUNNING")
    text = run("status").stdout
    assert "quickbooks_changes_sensor: RUNNING" in text and "quickbooks_automation_sensor: RUNNING" in text
    assert shown["dagster_daemon"] == "unknown (no Dagster instance here yet: start make dev)"
    intuit = run("status", "--json", env={"QB_ENVIRONMENT": "production", "QB_TOKEN_KEY": "x" * 43 + "="})
    assert (
        json.loads(intuit.stdout)["quickbooks"]["state"]
        == "not configured: set QB_CLIENT_ID, QB_CLIENT_SECRET, QB_REALM_ID"
    )

    now = utcnow()
    unreachable = "QuickBooks is not reachable: ConnectionError"
    token = QBToken(realm_id="42", refresh_token_encrypted="x", last_success_at=now - timedelta(hours=3))
    assert connection_state(Settings(), token, (now - timedelta(hours=1), unreachable), now) == (
        False,
        f"last successful call 3 hours ago: {unreachable}",
    )
    token.last_success_at = now - timedelta(minutes=5)
    assert connection_state(Settings(), token, None, now) == (True, "connected to company 42")
    # an error older than the last success is history; one after it is the connection now
    assert connection_state(Settings(), token, (now - timedelta(minutes=6), unreachable), now) == (
        True,
        "connected to company 42",
    )
    assert connection_state(Settings(), token, (now - timedelta(minutes=1), unreachable), now) == (
        False,
        f"last successful call 5 minutes ago: {unreachable}",
    )
    other = Settings(environment="production", client_id="i", client_secret="s", realm_id="7")
    assert connection_state(other, token, None, now)[1].startswith("not connected to company 7 (the stored tokens")

    # Through the command: a QuickBooks call failed after the last success (a CSV import that failed is
    # no QuickBooks call, and says nothing about the connection).
    engine = make_engine(f"sqlite:///{run.env['QB_DATA_DIR']}/qb_pipeline.sqlite")
    with session_scope(engine) as session:
        session.add(QBToken(realm_id="42", refresh_token_encrypted="x", last_success_at=now - timedelta(minutes=10)))
        session.add(
            SyncLog(entity="INVOICES", outcome="FAILED", message="an old error", logged_at=now - timedelta(hours=1))
        )
    assert json.loads(run("status", "--json").stdout)["quickbooks"]["state"] == "connected to company 42"
    with session_scope(engine) as session:
        session.add(
            SyncLog(entity="INVOICES", outcome="FAILED", message=unreachable, logged_at=now - timedelta(minutes=2))
        )
        session.add(
            SyncLog(entity="PRICING", outcome="FAILED", message="1 bad row", logged_at=now - timedelta(minutes=1))
        )
    quickbooks = json.loads(run("status", "--json").stdout)["quickbooks"]
    assert not quickbooks["connected"] and quickbooks["state"] == f"last successful call 10 minutes ago: {unreachable}"


def test_log_filters_are_checked_and_an_empty_answer_says_what_was_asked(run):
    assert run("log", "--entity", "invoice", check=False).returncode == 2
    assert run("log", "--limit", "-1", check=False).returncode == 2
    assert run("log", "--failed").stdout.strip() == "no failed or partial activity since 7d"
    assert run("log", "--entity", "Invoices", "--since", "1h").stdout.strip() == "no invoices activity since 1h"


def test_a_cli_pricing_import_is_in_the_activity_log_and_on_the_price_levels_page(run, tmp_path):
    import dagster as dg

    from qb_pipeline.db.models import Customer, Item
    from qb_pipeline.db.session import make_engine, session_scope

    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    engine = make_engine(f"sqlite:///{run.env['QB_DATA_DIR']}/qb_pipeline.sqlite")
    with session_scope(engine) as session:
        session.add_all([Customer(display_name="Acme"), Item(name="Widget")])
    prices = tmp_path / "prices.csv"
    prices.write_text("kind,customer,price_level,item,price,percent\ncustomer_price,Acme,,Widget,9.50,\n")
    assert run("pricing", "import", str(prices), env={"DAGSTER_HOME": str(home)}).stdout.strip() == "applied 1 row"
    assert "PRICING: SUCCESS - qb-pipeline pricing import prices.csv: applied 1 row" in run("log").stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        observed = instance.fetch_observations(dg.AssetKey("price_levels"), limit=1).records
    assert observed[0].asset_observation.metadata["changes"].value == 1


def test_orders_show_prices_each_line_and_says_where_the_price_comes_from(run):
    from decimal import Decimal

    from qb_pipeline.db.models import Customer, Item
    from qb_pipeline.db.session import make_engine, session_scope

    engine = make_engine(f"sqlite:///{run.env['QB_DATA_DIR']}/qb_pipeline.sqlite")
    with session_scope(engine) as session:
        session.add_all(
            [
                Customer(display_name="Cool Cars"),
                Item(name="Rocks", unit_price=Decimal("9.95")),
                Item(name="Sod", unit_price=Decimal("4.75")),
            ]
        )
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:2", "--line", "Sod:1:4.00", "--number", "P-1")
    shown = json.loads(run("orders", "show", "P-1", "--json").stdout)
    assert [(line["unit_price"], line["amount"], line["price_source"]) for line in shown["lines"]] == [
        ("9.95", "19.90", "item price"),
        ("4.00", "4.00", "explicit"),
    ]
    assert shown["total"] == "23.90"
    text = run("orders", "show", "P-1").stdout
    assert "Rocks × 2 @ 9.95 = 19.90 (item price)" in text and "total 23.90" in text

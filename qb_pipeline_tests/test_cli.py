"""The qb-pipeline command as a person runs it, against a real sandbox and a real database: through click's
CliRunner, and as a real process where the process is the point (OAuth's listener, a fresh interpreter)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.token_cipher import TokenKeyError
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline_tests.fixtures.cli import auth_connect, invoke
from qb_pipeline_tests.fixtures.name_lists import add_customers_and_items

CLI = [sys.executable, "-m", "qb_pipeline.cli"]


def test_auth_connect_runs_the_oauth_code_flow_against_the_sandbox(run, sandbox):
    process, url = auth_connect(run)
    # The person's browser: the sandbox approves at once and redirects to our listener.
    assert "state=" in url and requests.get(url, timeout=10).text.startswith("Connected to QuickBooks")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"connected to QuickBooks company {sandbox.realm_id}" in out
    status = run("auth", "status").stdout
    assert sandbox.realm_id in status and "refresh token expires" in status
    assert sandbox.connection["client_secret"] not in out + err + status
    # the code exchange asked for the refresh token's hard end (five years from this consent) and stored it
    engine = sa.create_engine(run.database_url)
    with engine.connect() as connection:
        hard_end = connection.execute(sa.text("SELECT refresh_hard_expires_at FROM qb_tokens")).scalar_one()
    engine.dispose()
    stored = date.fromisoformat(str(hard_end)[:10])
    assert abs(stored - (date.today() + timedelta(days=5 * 365))) <= timedelta(days=1)
    assert f"refresh token hard end {stored.isoformat()}" in status
    assert f"this consent ends {stored.isoformat()}" in out


def test_auth_connect_gives_the_code_exchange_qb_timeout_seconds(run, sandbox):
    """A token endpoint that does not answer the code exchange fails `auth connect` after
    QB_TIMEOUT_SECONDS, saying so (not "refused the authorization code")."""
    sandbox.inject("timeout", count=1, seconds=8, path_contains="/oauth2/v1/tokens/bearer")
    process, url = auth_connect(run, QB_TIMEOUT_SECONDS="1")
    assert requests.get(url, timeout=10).text.startswith("Connected to QuickBooks")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out + err
    assert err.strip() == "Error: the QuickBooks token endpoint did not answer within 1 s", err
    assert "not connected" in run("auth", "status", check=False).stderr  # nothing was stored


def test_orders_add_prints_the_orders_number_and_show_gives_each_line(run):
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


def test_an_added_order_is_no_sync_activity_in_the_log(run):
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:3", "--number", "CLI-1")
    assert "no activity" in run("log", "--since", "1h").stdout


def test_orders_add_refuses_a_number_already_taken(run):
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:3", "--number", "CLI-1")
    duplicate = run("orders", "add", "--customer", "X", "--line", "A:1", "--number", "CLI-1", check=False)
    assert duplicate.returncode == 1 and duplicate.stderr.strip() == "Error: order CLI-1 already exists"


@pytest.fixture
def prices_with_a_bad_line(run, tmp_path):
    """A pricing file for Acme and Widget (in the database): a good line, and one naming an unknown item."""
    add_customers_and_items(make_engine(run.database_url), ["Acme"], {"Widget": None})
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "kind,customer,price_level,item,price,percent\ncustomer_price,Acme,,Widget,9.50,\n"
        "customer_price,Acme,,Gizmo,1.00,\n"
    )
    return prices


def test_a_strict_pricing_import_names_the_bad_line_and_applies_nothing(run, prices_with_a_bad_line):
    strict = run("pricing", "import", str(prices_with_a_bad_line), "--strict", check=False)
    assert strict.returncode == 1 and "prices.csv:3: item 'Gizmo' is not in the item list" in strict.stderr
    assert "nothing applied" in strict.stderr


def test_a_pricing_import_applies_the_good_lines_and_exports_them(run, prices_with_a_bad_line):
    lenient = run("pricing", "import", str(prices_with_a_bad_line), check=False)
    assert lenient.returncode == 1 and "applied 1 row, 1 rejected" in lenient.stdout
    assert "customer_price,Acme,,Widget,9.50" in run("pricing", "export").stdout


def test_commands_explain_an_unmigrated_database(tmp_path):
    (tmp_path / "empty").mkdir()
    sqlite3.connect(tmp_path / "empty" / "qb_pipeline.sqlite").close()  # a database, with no tables
    result = invoke("status", env={"QB_DATA_DIR": str(tmp_path / "empty"), "QB_DATABASE_URL": None})
    assert result.returncode == 1 and "has no tables: make them with `qb-pipeline db upgrade`" in result.stderr


@pytest.mark.parametrize("environment", ["production", "sandbox"])
@pytest.mark.parametrize(
    "command",
    [("auth", "status"), ("auth", "connect", "--no-browser", "--timeout", "1")],
    ids=["auth-status", "auth-connect"],
)
def test_intuit_without_a_token_key_stops_with_one_line_and_writes_no_key_file(run, tmp_path, environment, command):
    env = {"QB_ENVIRONMENT": environment, "QB_CLIENT_ID": "id", "QB_CLIENT_SECRET": "secret", "QB_REALM_ID": "1"}
    (tmp_path / "data" / "token.key").unlink()  # the bundled sandbox's, made by db upgrade
    result = run(*command, check=False, env={**env, "QB_TOKEN_KEY": ""})
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "QB_TOKEN_KEY is not set" in result.stderr and "qb-pipeline auth new-key" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "token.key").exists()


def test_a_run_against_intuit_without_a_token_key_writes_no_key_file(database_url, tmp_path, monkeypatch):
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
        ("A:lots", "quantity and price must be numbers"),
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


def test_orders_add_warns_of_a_customer_not_here_yet(run):
    added = run("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", "F-1")
    assert "warning: no customer 'Nobody Yet' here yet" in added.stderr


@pytest.fixture
def two_failed_orders(run):
    """Orders F-1 and F-2 for a customer QuickBooks does not have, failed as the push leaves them."""
    for number in ("F-1", "F-2"):
        run("orders", "add", "--customer", "Nobody Yet", "--line", "Rocks:1", "--number", number)
    with session_scope(make_engine(run.database_url)) as session:
        for order in session.scalars(sa.select(Order)):
            order.status, order.status_reason = OrderStatus.FAILED, "customer 'Nobody Yet' is not in the customer list"


def pending(run) -> list[str]:
    return [o["order_number"] for o in json.loads(run("orders", "list", "--status", "pending", "--json").stdout)]


def test_failed_orders_are_listed_with_their_reason(run, two_failed_orders):
    listed = run("orders", "list", "--status", "failed").stdout
    assert "F-1" in listed and "F-2" in listed and "not in the customer list" in listed


def test_a_failed_order_retried_by_its_number_goes_again_alone(run, two_failed_orders):
    assert "1 order goes again: F-1" in run("orders", "retry", "F-1").stdout
    assert pending(run) == ["F-1"]


def test_retry_all_failed_sends_the_orders_still_failed(run, two_failed_orders):
    run("orders", "retry", "F-1")  # pending now
    assert "1 order goes again: F-2" in run("orders", "retry", "--all-failed").stdout
    assert sorted(pending(run)) == ["F-1", "F-2"]


def test_a_retry_shows_in_the_log_as_a_person_asking(run, two_failed_orders):
    run("orders", "retry", "F-1")
    assert "Sent 1 failed or blocked order again (a person asked)" in run("log", "--since", "1h").stdout


def test_log_filters_are_checked_and_an_empty_answer_says_what_was_asked(run):
    assert run("log", "--entity", "invoice", check=False).returncode == 2
    assert run("log", "--limit", "-1", check=False).returncode == 2
    assert run("log", "--failed").stdout.strip() == "no failed or partial activity since 7d"
    assert run("log", "--entity", "Invoices", "--since", "1h").stdout.strip() == "no invoices activity since 1h"


@pytest.fixture
def imported_under_dagster(run, tmp_path):
    """A pricing file of one good line imported from the command line where a Dagster instance is (the
    DAGSTER_HOME of `make dev`): that instance."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    add_customers_and_items(make_engine(run.database_url), ["Acme"], {"Widget": None})
    prices = tmp_path / "prices.csv"
    prices.write_text("kind,customer,price_level,item,price,percent\ncustomer_price,Acme,,Widget,9.50,\n")
    assert run("pricing", "import", str(prices), env={"DAGSTER_HOME": str(home)}).stdout.strip() == "applied 1 row"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_a_cli_pricing_import_is_in_the_activity_log(run, imported_under_dagster):
    assert "PRICING: SUCCESS - qb-pipeline pricing import prices.csv: applied 1 row" in run("log").stdout


def test_a_cli_pricing_import_is_observed_on_the_price_levels_page(imported_under_dagster):
    observed = imported_under_dagster.fetch_observations(dg.AssetKey("price_levels"), limit=1).records
    assert observed[0].asset_observation.metadata["changes"].value == 1


def test_orders_show_prices_each_line_and_says_where_the_price_comes_from(run):
    add_customers_and_items(make_engine(run.database_url), ["Cool Cars"], {"Rocks": "9.95", "Sod": "4.75"})
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:2", "--line", "Sod:1:4.00", "--number", "P-1")
    shown = json.loads(run("orders", "show", "P-1", "--json").stdout)
    assert [(line["unit_price"], line["amount"], line["price_source"]) for line in shown["lines"]] == [
        ("9.95", "19.90", "item price"),
        ("4.00", "4.00", "explicit"),
    ]
    assert shown["total"] == "23.90"
    text = run("orders", "show", "P-1").stdout
    assert "Rocks × 2 @ 9.95 = 19.90 (item price)" in text and "total 23.90" in text


def sync_customers(run) -> subprocess.CompletedProcess:
    """`qb-pipeline sync customers --in-process` in a fresh interpreter (the definitions read this test's settings)."""
    return subprocess.run(
        [*CLI, "sync", "customers", "--in-process"], env=run.process_env, capture_output=True, text=True, timeout=300
    )


def test_a_sync_past_the_refresh_tokens_hard_end_says_so_in_one_line_naming_auth_connect(run, sandbox):
    first = sync_customers(run)
    assert first.returncode == 0, first.stderr[-2000:]
    engine = sa.create_engine(run.database_url)
    with engine.begin() as connection:  # as QuickBooks told it: the hard end has passed
        connection.execute(sa.text("UPDATE qb_tokens SET refresh_hard_expires_at = :at"), {"at": "2026-01-01 00:00:00"})
    engine.dispose()
    sandbox.control("POST", "tokens/hard-end", {"expires_in": -60})
    sandbox.control("POST", "tokens/expire-access")
    failed = sync_customers(run)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == "Error: sync_customers_job did not succeed: see its run log"
    (line,) = run("log", "--failed").stdout.strip().splitlines()
    assert line.endswith(
        "CUSTOMERS: FAILED - the QuickBooks refresh token reached its hard end (Intuit's five-year limit) on "
        "2026-01-01 00:00 UTC: run `qb-pipeline auth connect` to connect again"
    )
    status = run("status").stdout
    assert "reached its hard end" in status and "auth connect" in status and "Traceback" not in status
    secrets = [sandbox.connection["client_secret"], sandbox.connection["refresh_token"]]
    assert not any(secret in failed.stdout + failed.stderr + status + line for secret in secrets)


def test_orders_add_names_the_company_and_numbers_are_unique_within_it(run):
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "CO-1", "--company", "111")
    run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "CO-1", "--company", "222")
    again = run(
        "orders", "add", "--customer", "X", "--line", "A:1", "--number", "CO-1", "--company", "111", check=False
    )
    assert again.returncode == 1 and again.stderr.strip() == "Error: order CO-1 already exists"
    unassigned = run("orders", "add", "--customer", "X", "--line", "A:1", "--number", "CO-1", check=False)
    assert unassigned.returncode == 1  # adopted by its company one day, it would clash there
    engine = make_engine(run.database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT realm_id FROM orders WHERE order_number = 'CO-1'")).scalars()
            assert sorted(stored) == ["111", "222"]
    finally:
        engine.dispose()


def test_show_and_retry_of_a_number_two_companies_hold_take_the_company(run):
    for company in ("111", "222"):
        run("orders", "add", "--customer", "Cool Cars", "--line", "Rocks:1", "--number", "CO-2", "--company", company)
    engine = make_engine(run.database_url)
    try:
        with engine.begin() as connection:  # both failed, as a push leaves them
            connection.execute(sa.text("UPDATE orders SET status = 'failed', status_reason = 'customer unknown'"))
        ambiguous = run("orders", "show", "CO-2", check=False)
        assert ambiguous.returncode == 1 and "2 companies have an order CO-2 (111, 222)" in ambiguous.stderr
        assert json.loads(run("orders", "show", "CO-2", "--company", "222", "--json").stdout)["order_number"] == "CO-2"
        assert "no order CO-2 in company 333" in run("orders", "show", "CO-2", "--company", "333", check=False).stderr
        run("orders", "retry", "CO-2", "--company", "222")
        with engine.connect() as connection:  # by plain SQL: only that company's order went back to pending
            statuses = dict(connection.execute(sa.text("SELECT realm_id, status FROM orders")).all())
        assert statuses == {"111": "failed", "222": "pending"}
    finally:
        engine.dispose()

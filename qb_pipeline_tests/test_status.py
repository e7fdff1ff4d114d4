"""`qb-pipeline status` tells the truth: about the QuickBooks connection (what the database says of the last
successful call and the failures since), about the schedules and sensors, the daemon and the orders."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from qb_pipeline.commands.status import connection_state
from qb_pipeline.db.models import QBToken, SyncLog
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.settings import Settings

UNREACHABLE = "QuickBooks is not reachable: ConnectionError"
NO_INSTANCE = "no Dagster instance here yet: start make dev"


def shown(run, **env: str) -> dict:
    return json.loads(run("status", "--json", env=env).stdout)


# -- through the command -------------------------------------------------------------------------------


def test_before_the_first_sync_quickbooks_connects_on_first_sync(run):
    quickbooks = shown(run)["quickbooks"]
    assert quickbooks["state"] == "connects on first sync" and not quickbooks["connected"]


def test_every_schedule_and_sensor_is_listed_running_by_default_without_a_dagster_instance(run):
    automation = shown(run)["automation"]
    assert set(automation.values()) == {f"RUNNING (by default; {NO_INSTANCE})"}
    assert sorted(automation) == [  # every schedule and sensor of the definitions
        "companies_sensor",
        "daily_catch_up",
        "hourly_sync",
        "new_orders_sensor",
        "quickbooks_automation_sensor",
        "quickbooks_changes_sensor",
    ]


def test_the_orders_sensor_shows_stopped_when_orders_are_not_synced_automatically(run):
    automation = shown(run, QB_AUTO_SYNC_ORDERS="false")["automation"]
    assert automation["new_orders_sensor"].startswith("STOPPED") and automation["hourly_sync"].startswith("RUNNING")


def test_the_text_status_names_each_sensor_with_its_state(run):
    text = run("status").stdout
    assert "quickbooks_changes_sensor: RUNNING" in text and "quickbooks_automation_sensor: RUNNING" in text


def test_the_daemon_is_unknown_without_a_dagster_instance(run):
    assert shown(run)["dagster_daemon"] == f"unknown ({NO_INSTANCE})"


def test_intuit_without_credentials_is_not_configured_and_says_what_to_set(run):
    intuit = shown(run, QB_ENVIRONMENT="production", QB_TOKEN_KEY="x" * 43 + "=")
    assert intuit["quickbooks"]["state"] == "not configured: set QB_CLIENT_ID, QB_CLIENT_SECRET, QB_REALM_ID"


def test_orders_are_counted_by_status_and_the_next_sync_is_on_the_hour(run):
    run("orders", "add", "--customer", "O'Brien & Sons", "--line", "Rocks:3", "--number", "CLI-1")
    status = shown(run)
    assert status["orders"] == {"pending": 1} and status["customers"] == {"linked": 0, "total": 0}
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:00:00", status["next_scheduled_sync"])


@pytest.fixture
def connected_ten_minutes_ago(run) -> sa.Engine:
    """`run`'s database after a QuickBooks call to company 42 succeeded ten minutes ago."""
    engine = make_engine(run.database_url)
    with session_scope(engine) as session:
        session.add(
            QBToken(realm_id="42", refresh_token_encrypted="x", last_success_at=utcnow() - timedelta(minutes=10))
        )
    return engine


def log_failed_run(engine, entity: str, message: str, minutes_ago: int) -> None:
    with session_scope(engine) as session:
        at = utcnow() - timedelta(minutes=minutes_ago)
        session.add(SyncLog(entity=entity, outcome="FAILED", message=message, logged_at=at))


def test_a_failure_before_the_last_success_leaves_quickbooks_connected(run, connected_ten_minutes_ago):
    log_failed_run(connected_ten_minutes_ago, "INVOICES", "an old error", minutes_ago=60)
    assert shown(run)["quickbooks"]["state"] == "connected to company 42"


def test_a_quickbooks_call_failed_since_the_last_success_is_not_connected_and_says_why(run, connected_ten_minutes_ago):
    log_failed_run(connected_ten_minutes_ago, "INVOICES", UNREACHABLE, minutes_ago=2)
    quickbooks = shown(run)["quickbooks"]
    assert not quickbooks["connected"] and quickbooks["state"] == f"last successful call 10 minutes ago: {UNREACHABLE}"


def test_a_failed_pricing_import_is_no_quickbooks_call_and_says_nothing_of_the_connection(
    run, connected_ten_minutes_ago
):
    log_failed_run(connected_ten_minutes_ago, "INVOICES", UNREACHABLE, minutes_ago=2)
    log_failed_run(connected_ten_minutes_ago, "PRICING", "1 bad row", minutes_ago=1)  # newer; no QuickBooks call
    quickbooks = shown(run)["quickbooks"]
    assert not quickbooks["connected"] and quickbooks["state"] == f"last successful call 10 minutes ago: {UNREACHABLE}"


# -- the rule itself: connected only when QuickBooks answered recently and nothing failed since ----------

NOW = utcnow()


def token(succeeded_ago: timedelta) -> QBToken:
    return QBToken(realm_id="42", refresh_token_encrypted="x", last_success_at=NOW - succeeded_ago)


def test_a_recent_success_with_no_failure_is_connected():
    assert connection_state(Settings(), token(timedelta(minutes=5)), None, NOW) == (True, "connected to company 42")


def test_an_error_older_than_the_last_success_is_history():
    failure = (NOW - timedelta(minutes=6), UNREACHABLE)
    assert connection_state(Settings(), token(timedelta(minutes=5)), failure, NOW) == (
        True,
        "connected to company 42",
    )


def test_an_error_after_the_last_success_is_the_connection_now():
    failure = (NOW - timedelta(minutes=1), UNREACHABLE)
    assert connection_state(Settings(), token(timedelta(minutes=5)), failure, NOW) == (
        False,
        f"last successful call 5 minutes ago: {UNREACHABLE}",
    )


def test_a_success_hours_ago_says_how_long_ago_with_the_error_since():
    failure = (NOW - timedelta(hours=1), UNREACHABLE)
    assert connection_state(Settings(), token(timedelta(hours=3)), failure, NOW) == (
        False,
        f"last successful call 3 hours ago: {UNREACHABLE}",
    )


def test_tokens_stored_for_another_company_are_no_connection_to_this_one():
    other = Settings(environment="production", client_id="i", client_secret="s", realm_id="7")
    assert connection_state(other, token(timedelta(minutes=5)), None, NOW)[1].startswith(
        "not connected to company 7 (the stored tokens"
    )


# -- the refresh token's two ends (issue #29 item 2) -----------------------------------------------------


def store_token_ends(engine, *, unused_in: timedelta, hard_end_in: timedelta) -> None:
    with session_scope(engine) as session:
        session.execute(
            sa.update(QBToken).values(
                refresh_expires_at=utcnow() + unused_in, refresh_hard_expires_at=utcnow() + hard_end_in
            )
        )


def test_status_shows_the_refresh_tokens_hard_end(run, connected_ten_minutes_ago):
    store_token_ends(connected_ten_minutes_ago, unused_in=timedelta(days=99), hard_end_in=timedelta(days=1000))
    quickbooks = shown(run)["quickbooks"]
    hard_end = (utcnow() + timedelta(days=1000)).date().isoformat()
    assert quickbooks["refresh_token_hard_end"].startswith(hard_end) and quickbooks["renew"] is None
    text = run("status").stdout
    assert f"hard end {hard_end}" in text and "auth connect" not in text
    assert f"refresh token hard end {hard_end}" in run("auth", "status").stdout


def test_status_says_to_renew_within_30_days_of_the_hard_end(run, connected_ten_minutes_ago):
    store_token_ends(connected_ten_minutes_ago, unused_in=timedelta(days=99), hard_end_in=timedelta(days=29))
    renew = shown(run)["quickbooks"]["renew"]
    assert renew.startswith("the QuickBooks refresh token reaches its hard end in 29.0 days")
    assert renew.endswith("run `qb-pipeline auth connect`")
    assert renew in run("status").stdout and renew in run("auth", "status").stdout

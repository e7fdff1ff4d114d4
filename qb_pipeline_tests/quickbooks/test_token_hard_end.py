"""Intuit's refresh tokens end (issue #29 item 2): five years after consent whatever their use, and after 100
days unused. Every token request asks for the hard end, the pipeline stores it beside the tokens, the
connection check fails 30 days before either end naming the command that renews it, and a refresh past the
hard end fails in one line naming that command. What is stored is read from the database itself."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from qb_pipeline.checks import quickbooks_connection
from qb_pipeline.core.errors import QuickBooksAuthError
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company

DAY = 86400
FIVE_YEARS = timedelta(days=5 * 365)


def stored_ends(engine) -> tuple[datetime | None, datetime | None]:
    """(hard end, unused expiry) of the one stored refresh token, from the database."""
    with session_scope(engine) as session:
        row = session.scalars(sa.select(QBToken)).one()
        return row.refresh_hard_expires_at, row.refresh_expires_at


def refresh_now(sandbox, gateway) -> None:
    """The next call finds its access token refused and refreshes."""
    sandbox.control("POST", "tokens/expire-access")
    gateway.count("Customer")


def near(value: datetime | None, expected: datetime, slack: timedelta = timedelta(minutes=2)) -> bool:
    return value is not None and abs(value - expected) < slack


def test_the_hard_end_is_stored_after_the_first_refresh_and_follows_what_quickbooks_tells(
    sandbox, make_gateway, engine
):
    gateway = make_gateway()
    gateway.count("Customer")  # the bootstrap token has no access token yet: refreshed
    hard_end, unused_expiry = stored_ends(engine)
    assert near(hard_end, utcnow() + FIVE_YEARS)  # asked for, told, stored
    assert near(unused_expiry, utcnow() + timedelta(seconds=8726400))  # the 100-day rule is kept beside it
    sandbox.control("POST", "tokens/hard-end", {"expires_in": 40 * DAY})
    refresh_now(sandbox, gateway)
    assert near(stored_ends(engine)[0], utcnow() + timedelta(days=40))


def test_the_hard_end_is_read_under_either_name_intuits_clients_have_used(sandbox, make_gateway, engine):
    sandbox.settings(hard_expiry_field="x_refresh_token_lifetime_expires_in")
    gateway = make_gateway()  # its bootstrap refresh token minted
    sandbox.control("POST", "tokens/hard-end", {"expires_in": 50 * DAY})
    gateway.count("Customer")
    assert near(stored_ends(engine)[0], utcnow() + timedelta(days=50))


def test_a_refresh_past_the_hard_end_fails_in_one_line_naming_the_command_that_renews_it(sandbox, make_gateway, engine):
    gateway = make_gateway(retries=3)
    sandbox.control("POST", "tokens/hard-end", {"expires_in": 2})
    gateway.count("Customer")  # refreshed: the end two seconds away is stored
    time.sleep(2.5)
    sandbox.reset_counters()
    with pytest.raises(QuickBooksAuthError) as caught:
        refresh_now(sandbox, gateway)
    message = str(caught.value)
    assert "\n" not in message and "hard end" in message and "run `qb-pipeline auth connect`" in message
    assert sandbox.counters()["token_calls"] == 1  # refused once, not retried
    with session_scope(engine) as session:
        row = session.scalars(sa.select(QBToken)).one()
    secrets = [sandbox.connection["client_secret"], gateway.connection.tokens.load(row.realm_id).refresh_token]
    assert not any(secret in message for secret in secrets)


def connection_check(resources) -> dg.AssetCheckEvaluation:
    result = materialize_company(
        [quickbooks_connection],
        resources=resources,
        selection=dg.AssetSelection.checks(quickbooks_connection),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


@pytest.mark.parametrize("days, passed", [(29, False), (31, True)])
def test_the_connection_check_fails_30_days_before_the_hard_end(sandbox, resources, database_url, days, passed):
    sandbox.control("POST", "tokens/hard-end", {"expires_in": days * DAY})  # the token the resources start with
    evaluation = connection_check(resources)
    assert near(stored_ends(make_engine(database_url))[0], utcnow() + timedelta(days=days))
    assert evaluation.passed is passed
    if not passed:
        assert "hard end in 28.9 days" in evaluation.description or "hard end in 29.0 days" in evaluation.description
        assert "run `qb-pipeline auth connect`" in evaluation.description


def test_the_connection_check_fails_30_days_before_the_token_dies_unused(sandbox, resources, database_url):
    connection_check(resources)  # connected: tokens stored
    engine = make_engine(database_url)
    with session_scope(engine) as session:  # as if the last refresh were 71 days ago
        session.execute(sa.update(QBToken).values(refresh_expires_at=utcnow() + timedelta(days=29)))
    evaluation = connection_check(resources)
    assert not evaluation.passed and "unused expiry in" in evaluation.description
    assert "run `qb-pipeline auth connect`" in evaluation.description

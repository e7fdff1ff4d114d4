"""Connection hardening against a bad network and a bad day: timeouts on every OAuth call, refreshes
that never block other writers, and a newest refresh token that is never lost."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from qb_pipeline.core.errors import QuickBooksUnavailable
from qb_pipeline.db.models import Order, QBToken
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_store import DatabaseTokenStore
from qb_pipeline_tests.fixtures.orders import named_order

TOKEN_PATH = "/oauth2/v1/tokens/bearer"


def impatient_writer(database_url: str) -> sa.Engine:
    """An order-entry app's connection that gives up on a held database lock after half a second."""
    if database_url.startswith("sqlite"):
        engine = sa.create_engine(database_url, connect_args={"timeout": 0.5})

        @sa.event.listens_for(engine, "begin")
        def _immediate(connection):  # take the write lock at once, as our own writers do
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        @sa.event.listens_for(engine, "connect")
        def _manual(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        return engine
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))

    @sa.event.listens_for(engine, "begin")
    def _lock_timeout(connection):
        connection.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")

    return engine


def test_a_token_endpoint_that_never_answers_fails_the_call_and_blocks_no_writer(
    sandbox, make_gateway, engine, database_url
):
    gateway = make_gateway(timeout_seconds=1.0, retries=1)
    gateway.count("Customer")  # connected, tokens stored
    sandbox.control("POST", "tokens/expire-access")  # the next call gets 401 and must refresh
    sandbox.inject("timeout", count=10, seconds=30, path_contains=TOKEN_PATH)
    failure: list[BaseException] = []

    def call() -> None:
        try:
            gateway.count("Customer")
        except BaseException as error:  # reported below
            failure.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)  # the refresh is hanging at Intuit's token endpoint now
    writer = impatient_writer(database_url)
    with session_scope(writer) as session:  # an order written while the refresh hangs
        session.add(named_order("WHILE-HUNG", "Acme", "Widget:1"))
    writer.dispose()
    caller.join(60)
    assert not caller.is_alive()
    assert isinstance(failure[0], QuickBooksUnavailable)
    assert "token endpoint did not answer within 1 s" in str(failure[0])
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 1
        assert session.scalar(sa.select(QBToken.refresh_lease_owner)) is None  # the lease was given back


def test_the_discovery_document_has_a_timeout_too(sandbox, make_gateway):
    sandbox.inject("timeout", count=1, seconds=30, path_contains="/.well-known/")
    gateway = make_gateway(timeout_seconds=1.0, retries=0)
    with pytest.raises(QuickBooksUnavailable, match="discovery document did not come within 1 s"):
        gateway.count("Customer")


@pytest.mark.parametrize("failed_saves", [1, 10])
def test_the_newest_refresh_token_is_never_lost_when_saving_it_fails(
    sandbox, make_gateway, engine, monkeypatch, failed_saves
):
    sandbox.settings(rotation_grace=0)  # a superseded refresh token dies at once
    sandbox.seed(customers=2)
    gateway = make_gateway()
    gateway.count("Customer")
    save = DatabaseTokenStore.save_refreshed
    failures = {"left": failed_saves}

    def flaky_save(store, tokens):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise sa.exc.OperationalError("UPDATE qb_tokens", {}, Exception("disk I/O error"))
        save(store, tokens)

    monkeypatch.setattr(DatabaseTokenStore, "save_refreshed", flaky_save)
    sandbox.control("POST", "tokens/expire-access")
    assert gateway.count("Customer") == 2  # refreshed; the save failed once, or every time
    sandbox.control("POST", "tokens/expire-access")
    assert gateway.count("Customer") == 2  # refreshed again: with the newest token, wherever it was kept
    monkeypatch.setattr(DatabaseTokenStore, "save_refreshed", save)  # the database is back
    assert gateway.count("Customer") == 2  # and the tokens only this process held are stored now
    fresh_process = make_gateway()  # another process: only what the database holds
    sandbox.control("POST", "tokens/expire-access")
    assert fresh_process.count("Customer") == 2

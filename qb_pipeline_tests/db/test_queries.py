"""Upserts, the order claim, stale claims and the activity log, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus, SyncLog
from qb_pipeline.db.session import session_scope
from qb_pipeline_tests.fixtures.orders import named_order

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
REALM = "4620816365000000001"  # the company whose orders these are (claims are per company)
_order_numbers = itertools.count(1)


def add_orders(engine, count: int, **fields) -> list[int]:
    with session_scope(engine) as session:
        fields = {"realm_id": REALM, **fields}
        orders = [named_order(f"SO-{next(_order_numbers):05d}", "Acme", "Widget:2", **fields) for _ in range(count)]
        session.add_all(orders)
        session.flush()
        return [o.id for o in orders]


def statuses(engine) -> dict[int, OrderStatus]:
    with session_scope(engine) as session:
        return dict(session.execute(sa.select(Order.id, Order.status)).all())


def test_claim_takes_pending_and_due_retries_only(engine):
    pending, due, not_due, needs_person, synced = (add_orders(engine, 1)[0] for _ in range(5))
    with session_scope(engine) as session:
        session.execute(
            sa.update(Order)
            .where(Order.id == due)
            .values(status=OrderStatus.FAILED, next_attempt_at=NOW - timedelta(minutes=1))
        )
        session.execute(
            sa.update(Order)
            .where(Order.id == not_due)
            .values(status=OrderStatus.FAILED, next_attempt_at=NOW + timedelta(minutes=1))
        )
        session.execute(
            sa.update(Order).where(Order.id == needs_person).values(status=OrderStatus.BLOCKED, next_attempt_at=None)
        )
        session.execute(sa.update(Order).where(Order.id == synced).values(status=OrderStatus.SYNCED))
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "run-a", realm_id=REALM, now=NOW) == [pending, due]
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "run-b", realm_id=REALM, now=NOW) == []  # nothing left for a second run
        order = session.get(Order, pending)
        assert (order.status, order.claimed_by, order.attempts) == (OrderStatus.PUSHING, "run-a", 1)


def test_claim_respects_limit_oldest_first(engine):
    ids = add_orders(engine, 5)
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "run-a", realm_id=REALM, limit=2) == ids[:2]


def test_two_claimers_racing_never_share_an_order(engine):
    """Two threads on their own connections claim in small batches until nothing is left."""
    ids = add_orders(engine, 120)
    won: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        try:
            start.wait()
            while True:
                with session_scope(engine) as session:
                    claimed = queries.claim_orders(session, f"run-{name}", realm_id=REALM, limit=7)
                if not claimed:
                    return
                won[name].extend(claimed)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in won]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert not set(won["a"]) & set(won["b"])
    assert sorted(won["a"] + won["b"]) == ids


def test_concurrent_uncommitted_claim_is_invisible_to_second_claimer(engine):
    """The same order offered to two open transactions at once: exactly one wins it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("needs two concurrent write transactions (PostgreSQL); SQLite serializes writers")
    (order_id,) = add_orders(engine, 1)
    with engine.connect() as first, engine.connect() as second:
        first_tx = first.begin()
        first_won = queries.claim_orders(Session(bind=first), "run-a", realm_id=REALM)
        second_tx = second.begin()
        second_won = queries.claim_orders(Session(bind=second), "run-b", realm_id=REALM)  # SKIP LOCKED: no wait
        first_tx.commit()
        second_tx.commit()
    assert first_won == [order_id] and second_won == []
    assert statuses(engine)[order_id] == OrderStatus.PUSHING


def test_stale_claim_take_over_and_old_run_cannot_finish(engine):
    (order_id,) = add_orders(engine, 1)
    with session_scope(engine) as session:
        queries.claim_orders(session, "crashed-run", realm_id=REALM, now=NOW - timedelta(hours=1))
    with session_scope(engine) as session:
        assert queries.take_over_stale_claims(
            session, "fresh-run", realm_id=REALM, older_than=timedelta(minutes=30), now=NOW
        ) == [order_id]
        assert (
            queries.take_over_stale_claims(
                session, "third-run", realm_id=REALM, older_than=timedelta(minutes=30), now=NOW
            )
            == []
        )
    with session_scope(engine) as session:
        assert not queries.finish_claim(session, order_id, "crashed-run", status=OrderStatus.SYNCED, qb_invoice_id="9")
        assert queries.finish_claim(session, order_id, "fresh-run", status=OrderStatus.SYNCED, qb_invoice_id="42")
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        assert (order.status, order.qb_invoice_id, order.claimed_by) == (OrderStatus.SYNCED, "42", None)
        assert order.synced_at is not None


def test_finish_synced_claims_records_only_what_the_run_still_holds_with_exact_totals(engine):
    mine, taken_over, never_claimed = add_orders(engine, 3)
    with session_scope(engine) as session:
        queries.claim_orders(session, "run-a", realm_id=REALM, now=NOW - timedelta(hours=1), limit=2)
    with session_scope(engine) as session:
        session.execute(sa.update(Order).where(Order.id == taken_over).values(claimed_by="run-b"))
    answered = [
        (mine, "101", Decimal("1234567.89")),
        (taken_over, "102", Decimal("0.10")),
        (never_claimed, "103", Decimal("5.00")),
    ]
    with session_scope(engine) as session:
        assert queries.finish_synced_claims(session, "run-a", answered, now=NOW) == {mine}
    with session_scope(engine) as session:
        rows = {o.id: o for o in session.scalars(sa.select(Order))}
        assert (rows[mine].status, rows[mine].qb_invoice_id, rows[mine].invoiced_total) == (
            OrderStatus.SYNCED,
            "101",
            Decimal("1234567.89"),
        )
        assert (rows[mine].claimed_by, rows[mine].synced_at) == (None, NOW)
        assert (rows[taken_over].status, rows[taken_over].claimed_by, rows[taken_over].qb_invoice_id) == (
            OrderStatus.PUSHING,
            "run-b",
            None,
        )
        assert (rows[never_claimed].status, rows[never_claimed].qb_invoice_id) == (OrderStatus.PENDING, None)


def test_a_big_claim_leaves_postgresql_statistics_that_know_the_claimed_orders(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner reads orders by primary key whatever its statistics")
    with session_scope(engine) as session:
        session.execute(sa.text("ANALYZE orders"))  # statistics taken while nothing is claimed
    add_orders(engine, queries.RESTATE_AFTER_CLAIMING)
    with session_scope(engine) as session:
        assert len(queries.claim_orders(session, "run-a", realm_id=REALM, limit=queries.RESTATE_AFTER_CLAIMING)) == 500
    with session_scope(engine) as session:
        estimate = session.execute(
            sa.text("EXPLAIN (FORMAT JSON) SELECT id FROM orders WHERE status = 'pushing'")
        ).scalar_one()[0]["Plan"]["Plan Rows"]
    # Without the ANALYZE the planner estimates one row; it is what made each batch scan them all.
    assert estimate >= 400


def test_failed_order_records_reason_and_retry_time(engine):
    (order_id,) = add_orders(engine, 1)
    with session_scope(engine) as session:
        queries.claim_orders(session, "run-a", realm_id=REALM, now=NOW)
        queries.finish_claim(
            session,
            order_id,
            "run-a",
            status=OrderStatus.FAILED,
            reason="QuickBooks is down (503)",
            next_attempt_at=NOW + timedelta(minutes=5),
            now=NOW,
        )
    with session_scope(engine) as session:
        assert queries.claim_orders(session, "run-b", realm_id=REALM, now=NOW) == []
        assert queries.claim_orders(session, "run-b", realm_id=REALM, now=NOW + timedelta(minutes=6)) == [order_id]
        order = session.get(Order, order_id)
        assert order.attempts == 2 and order.status_reason == "QuickBooks is down (503)"


def test_release_claims_returns_orders_to_pending(engine):
    ids = add_orders(engine, 3)
    with session_scope(engine) as session:
        queries.claim_orders(session, "run-a", realm_id=REALM)
    with session_scope(engine) as session:
        assert queries.release_claims(session, "run-a", ids[:2]) == 2
    assert [statuses(engine)[i] for i in ids] == [OrderStatus.PENDING, OrderStatus.PENDING, OrderStatus.PUSHING]


def test_activity_log_append_and_prune(engine):
    with session_scope(engine) as session:
        queries.append_sync_log(
            session, entity="customers", outcome="success", message="Synced 5 new customers", processed=5
        )
        old = queries.append_sync_log(session, entity="items", outcome="failed", message="QuickBooks refused")
        old.logged_at = NOW - timedelta(days=31)
    with session_scope(engine) as session:
        assert queries.prune_sync_log(session, retention_days=30, now=NOW) == 1
        (row,) = session.scalars(sa.select(SyncLog)).all()
        assert (row.entity, row.outcome, row.processed) == ("CUSTOMERS", "SUCCESS", 5)

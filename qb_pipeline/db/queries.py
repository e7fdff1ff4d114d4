"""The queries the sync relies on, written once and correct on SQLite and PostgreSQL.

The order claim is the first of the three locks behind "one order, at most one invoice": a
conditional UPDATE that only one run can win for a given order, whatever the isolation level.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from qb_pipeline.core import defaults
from qb_pipeline.db.models import (
    Base,
    InvoiceBatch,
    Order,
    OrderStatus,
    SyncCursor,
    SyncLog,
)
from qb_pipeline.db.types import utcnow


def claimable_orders(now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The condition an order meets when a run may claim it now."""
    return _claimable(now or utcnow())


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    """Pending orders, and failed/blocked ones whose retry is due (NULL = waits for a person)."""
    return sa.or_(
        Order.status == OrderStatus.PENDING,
        sa.and_(
            Order.status.in_([OrderStatus.FAILED, OrderStatus.BLOCKED]),
            Order.next_attempt_at.is_not(None),
            Order.next_attempt_at <= now,
        ),
    )


RESTATE_AFTER_CLAIMING = 500  # orders; below this, stale statistics cost less than ANALYZE


def claim_orders(
    session: Session, run_id: str, *, realm_id: str, limit: int = 1000, now: datetime | None = None
) -> list[int]:
    """Claim up to `limit` due orders of company `realm_id` for `run_id`; returns the ids this call won,
    oldest first.

    The UPDATE re-checks the status in its own WHERE, so when two runs pick the same candidates the
    second one's UPDATE finds them already `pushing` and skips them (on PostgreSQL it waits for the
    first's row locks, then re-evaluates; on SQLite writers are serialized). On PostgreSQL, SKIP
    LOCKED lets a concurrent claimer take the next orders instead of waiting.
    """
    now = now or utcnow()
    candidates = (
        sa.select(Order.id)
        .where(Order.realm_id == realm_id, _claimable(now))
        .order_by(Order.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        sa.update(Order)
        .where(Order.id.in_(candidates), _claimable(now))
        .values(
            status=OrderStatus.PUSHING,
            claimed_by=run_id,
            claimed_at=now,
            attempts=Order.attempts + 1,
            updated_at=now,
        )
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    won = sorted(session.execute(statement).scalars())
    if len(won) >= RESTATE_AFTER_CLAIMING:
        # The planner's statistics still say almost no order is `pushing`, so until autovacuum's next
        # ANALYZE it reads this run's orders through the status index and joins each batch's 30
        # against all of them (18 ms a batch at 10,000 claimed; 0.4 ms with fresh statistics).
        refresh_statistics(session, Order)
    return won


def refresh_statistics(session: Session, model: type[Base]) -> None:
    """ANALYZE a table PostgreSQL's planner would otherwise misjudge after a bulk change, until autovacuum
    gets to it. It samples a bounded number of rows, sees this transaction's own changes, and is skipped
    with a warning, not an error, when our user does not own the table. SQLite: nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"ANALYZE {model.__table__.name}"))


def renew_claims(session: Session, run_id: str, *, now: datetime | None = None) -> set[int]:
    """The claim's heartbeat: stamp every order `run_id` still holds; returns their ids.

    A pushing run calls it every tenth of the stale period; before each send it checks `held_claims`.
    """
    now = now or utcnow()
    statement = (
        sa.update(Order)
        .where(Order.status == OrderStatus.PUSHING, Order.claimed_by == run_id)
        .values(claimed_at=now)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.execute(statement).scalars())


def held_claims(session: Session, run_id: str, order_ids: Iterable[int]) -> set[int]:
    """Which of `order_ids` `run_id` still holds (checked right before sending them)."""
    ids = sorted(set(order_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            sa.select(Order.id).where(
                Order.id.in_(ids), Order.status == OrderStatus.PUSHING, Order.claimed_by == run_id
            )
        )
    )


def stale_claims(now: datetime, older_than: timedelta) -> sa.ColumnElement[bool]:
    """Orders claimed by a run whose heartbeat has been silent for `older_than`."""
    return sa.and_(Order.status == OrderStatus.PUSHING, Order.claimed_at < now - older_than)


def take_over_stale_claims(
    session: Session, run_id: str, *, realm_id: str, older_than: timedelta, now: datetime | None = None
) -> list[int]:
    """Move company `realm_id`'s claims whose heartbeat has been silent for `older_than` (a crashed or hung
    run) to `run_id`.

    The caller must look each order's DocNumber up in QuickBooks before pushing it again: the old run
    may have created the invoice and died before recording it.
    """
    now = now or utcnow()
    statement = (
        sa.update(Order)
        .where(Order.realm_id == realm_id, stale_claims(now, older_than))
        .values(claimed_by=run_id, claimed_at=now, updated_at=now)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(statement).scalars())


# What QuickBooks' answer to an order's batch settles: no write-ahead record to resend, nothing in doubt.
ANSWERED: dict[str, Any] = {"invoice_batch_id": None, "outcome_unknown_at": None, "sent_preferences_version": None}


def mark_unanswered(
    session: Session, order_ids: Iterable[int], *, at: datetime, preferences_version: str | None
) -> None:
    """Orders whose invoice is on its way (stamped before sending) or went unanswered (stamped again when
    we stop waiting): QuickBooks may apply that request until its limit after `at`."""
    ids = sorted(set(order_ids))
    if ids:
        session.execute(
            sa.update(Order)
            .where(Order.id.in_(ids))
            .values(outcome_unknown_at=at, sent_preferences_version=preferences_version)
            .execution_options(synchronize_session=False)
        )


def finish_claim(
    session: Session,
    order_id: int,
    run_id: str,
    *,
    status: OrderStatus,
    reason: str | None = None,
    qb_invoice_id: str | None = None,
    invoiced_total: Decimal | None = None,
    next_attempt_at: datetime | None = None,
    batch_answered: bool = False,
    now: datetime | None = None,
) -> bool:
    """Record an order's outcome and release the claim, only if `run_id` still holds it.

    `batch_answered`: QuickBooks answered the order's recorded batch, so its write-ahead record is done
    with; otherwise the record stays and the next attempt re-sends that batch first.
    Returns False when the claim was taken over meanwhile (the other run now owns the order).
    """
    if status == OrderStatus.PUSHING:
        raise ValueError("finish_claim needs a final status")
    now = now or utcnow()
    values: dict[str, Any] = {
        "status": status,
        "status_reason": reason,
        "claimed_by": None,
        "claimed_at": None,
        "next_attempt_at": next_attempt_at,
        "updated_at": now,
    }
    if status == OrderStatus.SYNCED:
        values.update(qb_invoice_id=qb_invoice_id, invoiced_total=invoiced_total, synced_at=now, status_reason=None)
    if batch_answered or status == OrderStatus.SYNCED:
        values.update(ANSWERED)
    result = session.execute(
        sa.update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PUSHING, Order.claimed_by == run_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def finish_synced_claims(
    session: Session, run_id: str, answered: Sequence[tuple[int, str, Decimal | None]], *, now: datetime | None = None
) -> set[int]:
    """`finish_claim(status=SYNCED)` for many orders, each (order id, invoice id, invoiced total); returns
    the ids recorded (an order `run_id` no longer holds is left alone).

    PostgreSQL takes them as one UPDATE joined to the answers unnested from three bound arrays (one
    cached statement, one round trip per batch: a round trip per order was most of what a big push
    spent over SQLite); SQLite, in process, takes them one by one."""
    now = now or utcnow()
    if not answered:
        return set()
    if session.get_bind().dialect.name != "postgresql":
        return {
            order_id
            for order_id, invoice_id, total in answered
            if finish_claim(
                session,
                order_id,
                run_id,
                status=OrderStatus.SYNCED,
                qb_invoice_id=invoice_id,
                invoiced_total=total,
                now=now,
            )
        }
    return set(
        session.scalars(
            _FINISH_SYNCED,
            {
                "run_id": run_id,
                "now": now,
                "order_ids": [order_id for order_id, _, _ in answered],
                "invoice_ids": [invoice_id for _, invoice_id, _ in answered],
                "totals": [total for _, _, total in answered],
            },
        )
    )


def _finish_synced_statement() -> sa.Update:
    answers = (
        sa.func.unnest(
            sa.bindparam("order_ids", type_=postgresql.ARRAY(sa.Integer)),
            sa.bindparam("invoice_ids", type_=postgresql.ARRAY(sa.Text)),
            sa.bindparam("totals", type_=postgresql.ARRAY(sa.Numeric)),
        )
        .table_valued("order_id", "invoice_id", "total")
        .render_derived(name="answers")
    )
    now = sa.bindparam("now", type_=Order.updated_at.type)
    return (
        sa.update(Order)
        .where(
            Order.id == answers.c.order_id,
            Order.status == OrderStatus.PUSHING,
            Order.claimed_by == sa.bindparam("run_id", type_=sa.Text),
        )
        .values(
            status=OrderStatus.SYNCED,
            status_reason=None,
            claimed_by=None,
            claimed_at=None,
            next_attempt_at=None,
            updated_at=now,
            qb_invoice_id=answers.c.invoice_id,
            invoiced_total=sa.cast(answers.c.total, Order.invoiced_total.type),
            synced_at=now,
            **ANSWERED,
        )
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )


_FINISH_SYNCED = _finish_synced_statement()


def release_claims(session: Session, run_id: str, order_ids: Iterable[int] | None = None) -> int:
    """Give claimed orders back to `pending` untouched (a run stopping before it pushed them)."""
    statement = sa.update(Order).where(Order.status == OrderStatus.PUSHING, Order.claimed_by == run_id)
    if order_ids is not None:
        statement = statement.where(Order.id.in_(list(order_ids)))
    result = session.execute(
        statement.values(
            status=OrderStatus.PENDING, claimed_by=None, claimed_at=None, updated_at=utcnow()
        ).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def append_sync_log(
    session: Session,
    *,
    entity: str,
    outcome: str,
    message: str,
    processed: int = 0,
    failed: int = 0,
    run_id: str | None = None,
    duration_seconds: float | None = None,
    api_calls: int | None = None,
    retries: int | None = None,
    realm_id: str | None = None,
) -> SyncLog:
    """One activity-log row, e.g. entity=CUSTOMERS outcome=SUCCESS message="Synced 5 new customers";
    `realm_id`: the company the run served (None: not one company's, e.g. a person's order edit)."""
    row = SyncLog(
        realm_id=realm_id,
        entity=entity.upper(),
        outcome=outcome.upper(),
        message=message,
        processed=processed,
        failed=failed,
        run_id=run_id,
        duration_seconds=duration_seconds,
        api_calls=api_calls,
        retries=retries,
    )
    session.add(row)
    session.flush()
    return row


def prune_sync_log(
    session: Session, *, retention_days: int = defaults.LOG_RETENTION_DAYS, now: datetime | None = None
) -> int:
    """Delete activity-log rows older than the retention; returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(
        sa.delete(SyncLog).where(SyncLog.logged_at < cutoff).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def link_coverage(session: Session, model: type, *conditions) -> tuple[int, int]:
    """(rows linked to a QuickBooks record, all rows) of a name list's table (Customer or Item), of the rows
    `conditions` keep (a company's)."""
    total = session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions)) or 0
    linked = (
        session.scalar(sa.select(sa.func.count()).select_from(model).where(model.qb_id.is_not(None), *conditions)) or 0
    )
    return linked, total


def unlinked_older_than(
    session: Session, model: type, name_column: str, age: timedelta, *conditions, now: datetime | None = None
) -> list[str]:
    """Names of a name list's local rows (those `conditions` keep) still without a QuickBooks record after `age`."""
    name = getattr(model, name_column)
    cutoff = (now or utcnow()) - age
    return list(
        session.scalars(sa.select(name).where(model.qb_id.is_(None), model.created_at < cutoff, *conditions).limit(20))
    )


NAME_KEYS_PER_QUERY = 900  # keys per IN (...): well inside SQLite's and PostgreSQL's parameter limits


def rows_by_name_key(session: Session, model: type, keys: Iterable[str], *conditions) -> dict[str, list]:
    """The rows of a table matched by name (Customer, Item, PriceLevel) whose `name_key` is one of `keys`
    (computed with db.names.name_key), grouped by key: more than one row under a key is an ambiguous name."""
    found: dict[str, list] = defaultdict(list)
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), NAME_KEYS_PER_QUERY):
        chunk = wanted[start : start + NAME_KEYS_PER_QUERY]
        for row in session.scalars(sa.select(model).where(model.name_key.in_(chunk), *conditions)):
            found[row.name_key].append(row)
    return found


def known_name_keys(session: Session, model: type, keys: Iterable[str], *conditions) -> set[str]:
    """Which of `keys` name at least one row of `model` (meeting `conditions`: of one company)."""
    wanted, known = sorted(set(keys)), set()
    for start in range(0, len(wanted), NAME_KEYS_PER_QUERY):
        chunk = wanted[start : start + NAME_KEYS_PER_QUERY]
        found = sa.select(model.name_key).where(model.name_key.in_(chunk), *conditions).distinct()
        known.update(session.scalars(found))
    return known


def read_cursor(session: Session, realm_id: str, entity: str) -> datetime | None:
    cursor = session.get(SyncCursor, (realm_id, entity))
    return cursor.covered_until if cursor else None


def pulled_entities(session: Session) -> set[str]:
    """The entities this database has ever been pulled into (any company): a new, restored or remade
    database has none, whatever Dagster remembers of earlier runs."""
    return set(session.scalars(sa.select(SyncCursor.entity).distinct()))


def advance_cursor(session: Session, realm_id: str, entity: str, covered_until: datetime, *, full: bool) -> None:
    """Record what a pull covered; call it only once the pulled rows are committed."""
    cursor = session.get(SyncCursor, (realm_id, entity)) or SyncCursor(realm_id=realm_id, entity=entity)
    cursor.covered_until = covered_until
    if full:
        cursor.full_sync_at = covered_until
    session.add(cursor)


def prune_answered_batches(session: Session, *, older_than: timedelta) -> None:
    """Write-ahead records no order points at any more are done with; keep `older_than` of them for
    inspection."""
    session.execute(
        sa.delete(InvoiceBatch)
        .where(
            InvoiceBatch.created_at < utcnow() - older_than,
            ~sa.exists().where(Order.invoice_batch_id == InvoiceBatch.id),
        )
        .execution_options(synchronize_session=False)
    )

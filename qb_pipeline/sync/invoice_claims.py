"""Which orders an invoice push holds: claimed when it starts, renewed by a heartbeat, released at the end.

The heartbeat is a safeguard of `sync/invoices.py`: a run renews its claims every tenth of the stale
period and sends only orders it still holds right before sending; a claim is taken over only once its
heartbeat has been silent for the stale period, never because a live run is slow.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa

from qb_pipeline.db import queries
from qb_pipeline.db.models import Order
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_outcomes import PushRun

STALE_CLAIM_AFTER = timedelta(minutes=15)  # of heartbeat silence, not of claim age
KEEP_ANSWERED_BATCHES = timedelta(days=1)


def orders_to_push(engine: sa.Engine, *, realm_id: str, stale_after: timedelta) -> bool:
    """Whether a push for company `realm_id` would claim anything: due orders, or claims whose heartbeat
    went silent. Asked before the push reads the company's preferences (a metered read): an hour without
    orders costs none."""
    now = utcnow()
    due = sa.and_(
        Order.realm_id == realm_id, sa.or_(queries.claimable_orders(now), queries.stale_claims(now, stale_after))
    )
    with session_scope(engine) as session:
        return bool(session.scalar(sa.select(sa.exists().where(due))))


def claim_due_orders(run: PushRun, *, limit: int, stale_after: timedelta) -> tuple[list[int], set[int]]:
    """This run's orders: those whose claim went stale (taken over: an earlier attempt may have sent
    them) and due ones claimed afresh; and which of them were taken over."""
    with session_scope(run.engine) as session:
        realm_id = run.qb.realm_id
        taken_over = set(queries.take_over_stale_claims(session, run.run_id, realm_id=realm_id, older_than=stale_after))
        claimed = queries.claim_orders(session, run.run_id, realm_id=realm_id, limit=limit)
    if taken_over:
        run.progress(f"took over {len(taken_over)} orders from runs whose heartbeat stopped")
    order_ids = sorted(taken_over | set(claimed))
    if order_ids:
        run.progress(f"claimed {len(order_ids)} orders")
    return order_ids, taken_over


def release_claims(run: PushRun) -> None:
    """Whatever stopped the run, nothing stays claimed by it: unfinished orders go back to pending (an
    order whose batch outcome is unknown keeps its write-ahead record for the next attempt)."""
    with session_scope(run.engine) as session:
        queries.release_claims(session, run.run_id)
        queries.prune_answered_batches(session, older_than=KEEP_ANSWERED_BATCHES)


class Heartbeat:
    """Renews this run's claims (every tenth of the stale period: stamping every held order after each of
    a big push's batches made PostgreSQL rewrite 10,000 rows 334 times) and tells which it still holds."""

    def __init__(self, run: PushRun, stale_after: timedelta) -> None:
        self.run = run
        self.renew_every, self.renewed_at = stale_after.total_seconds() / 10, float("-inf")

    def still_ours(self, order_ids: Iterable[int]) -> set[int]:
        """Which of `order_ids` this run still holds, right before sending them."""
        wanted = set(order_ids)
        with session_scope(self.run.engine) as session:
            if time.monotonic() - self.renewed_at >= self.renew_every:
                queries.renew_claims(session, self.run.run_id)
                self.renewed_at = time.monotonic()
            held = queries.held_claims(session, self.run.run_id, wanted)
        self.run.result.lost_claims += len(wanted - held)
        return held

"""Orders → QuickBooks invoices, at most one invoice per order, no order lost.

The three locks:
1. The database claim: a conditional UPDATE that only one run wins (`db.queries.claim_orders`).
2. Before creating an invoice for an order that may already have one — a claim taken over from a
   crashed run, or an order attempted before (a timeout leaves the outcome unknown) — one batched
   `DocNumber IN (…)` query links the invoices that already exist instead of creating them again.
3. QBO refuses a second invoice with the same DocNumber (6140); the refusal is answered by linking.
Outcomes are recorded with `finish_claim`, which only succeeds while this run still holds the claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from qb_pipeline.db import queries
from qb_pipeline.db.models import Customer, Item, Order, OrderLine, OrderStatus, QBInvoice
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_draft import InvoiceDraft, OrderRejected, draft_invoice
from qb_pipeline.sync.port import QuickBooksPort, WriteOutcome
from qb_pipeline.sync.push import push_name_list
from qb_pipeline.sync.records import invoice_row

STALE_CLAIM_AFTER = timedelta(minutes=15)
BLOCKED_RETRY = timedelta(hours=1)  # a prerequisite may be fixed in QuickBooks meanwhile
MAX_RETRY_DELAY = timedelta(hours=6)
RECORD_EVERY = 30  # one QBO batch


@dataclass
class InvoicePushResult:
    pushed: int = 0
    linked: int = 0  # found already in QuickBooks (crash recovery, retries)
    failed: int = 0
    blocked: int = 0
    lost_claims: int = 0  # taken over by another run meanwhile (not an error)
    reasons: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.pushed + self.linked + self.failed + self.blocked


def orders_name_unknown_records(engine: sa.Engine) -> bool:
    """Whether a due order names a customer or item by a name our mirror does not know (yet)."""
    due = queries.claimable_orders()
    with session_scope(engine) as session:
        unknown_customer = session.scalar(sa.select(sa.func.count()).select_from(Order).where(
            due, Order.customer_id.is_(None), Order.customer_name.is_not(None),
            ~sa.exists().where(sa.func.lower(Customer.display_name) == sa.func.lower(Order.customer_name))))
        unknown_item = session.scalar(sa.select(sa.func.count()).select_from(OrderLine).join(Order).where(
            due, OrderLine.item_id.is_(None), OrderLine.item_name.is_not(None),
            ~sa.exists().where(sa.func.lower(Item.name) == sa.func.lower(OrderLine.item_name))))
    return bool(unknown_customer or unknown_item)


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def push_orders(
    qb: QuickBooksPort,
    engine: sa.Engine,
    run_id: str,
    *,
    limit: int = 1000,
    stale_after: timedelta = STALE_CLAIM_AFTER,
    default_income_account_id: str | None = None,
    progress: Callable[[str], None] = lambda _message: None,
) -> InvoicePushResult:
    result = InvoicePushResult()
    with session_scope(engine) as session:
        taken_over = set(queries.take_over_stale_claims(session, run_id, older_than=stale_after))
        claimed = queries.claim_orders(session, run_id, limit=limit)
    order_ids = sorted(taken_over | set(claimed))
    if taken_over:
        progress(f"took over {len(taken_over)} orders from runs that stopped mid-push")
    if not order_ids:
        return result
    progress(f"claimed {len(order_ids)} orders")

    try:
        drafts, maybe_sent = _draft_all(engine, order_ids, taken_over, run_id, result)
        _link_existing(qb, engine, drafts, maybe_sent, run_id, result)
        drafts = _ensure_prerequisites(qb, engine, drafts, run_id, result, default_income_account_id)
        _create(qb, engine, drafts, run_id, result, progress)
    finally:
        # Whatever stopped us, nothing stays claimed by this run: unfinished orders go back to pending.
        with session_scope(engine) as session:
            queries.release_claims(session, run_id)
    return result


def _draft_all(engine, order_ids, taken_over, run_id, result) -> tuple[dict[int, InvoiceDraft], set[int]]:
    drafts: dict[int, InvoiceDraft] = {}
    maybe_sent: set[int] = set()
    with session_scope(engine) as session:
        orders = session.scalars(
            sa.select(Order).where(Order.id.in_(order_ids)).options(selectinload(Order.lines)).order_by(Order.id)
        ).all()
        for order in orders:
            try:
                drafts[order.id] = draft_invoice(session, order)
            except OrderRejected as rejected:
                _finish_rejected(session, order, run_id, rejected, result)
                continue
            # attempts counts this claim too: > 1 means an earlier attempt may have reached QBO
            if order.id in taken_over or order.attempts > 1:
                maybe_sent.add(order.id)
    return drafts, maybe_sent


def _link_existing(qb, engine, drafts, maybe_sent, run_id, result) -> None:
    candidates = {drafts[i].doc_number: i for i in maybe_sent if i in drafts}
    if not candidates:
        return
    existing = qb.find_invoices(list(candidates))
    with session_scope(engine) as session:
        mirrored: dict[str, dict] = {}
        for doc_number, record in existing.items():
            order_id = candidates.get(doc_number)
            if order_id is not None and _same_customer(drafts[order_id], record):
                _finish_synced(session, order_id, run_id, record, qb.realm_id, result, mirrored, linked=True)
                drafts.pop(order_id)
        _mirror(session, mirrored)


def _ensure_prerequisites(qb, engine, drafts, run_id, result, default_income_account_id) -> dict[int, InvoiceDraft]:
    """Create customers and items the invoices need that are not in QuickBooks yet, then re-draft."""
    missing_customers = {d.customer.id for d in drafts.values() if d.customer.qb_id is None}
    missing_items = {line.item.id for d in drafts.values() for line in d.lines if line.item.qb_id is None}
    if not missing_customers and not missing_items:
        return drafts
    if missing_customers:
        push_name_list(qb, engine, "Customer", row_ids=sorted(missing_customers))
    if missing_items:
        push_name_list(qb, engine, "Item", row_ids=sorted(missing_items),
                       default_income_account_id=default_income_account_id)
    redrafted: dict[int, InvoiceDraft] = {}
    with session_scope(engine) as session:
        for order_id in drafts:
            order = session.get(Order, order_id)
            try:
                draft = draft_invoice(session, order)
                if draft.customer.qb_id is None or any(line.item.qb_id is None for line in draft.lines):
                    raise OrderRejected(OrderStatus.BLOCKED, "a customer or item is not in QuickBooks yet")
                redrafted[order_id] = draft
            except OrderRejected as rejected:
                _finish_rejected(session, order, run_id, rejected, result)
    return redrafted


def _create(qb, engine, drafts, run_id, result, progress) -> None:
    pending = list(drafts.items())
    # Outcomes are recorded batch by batch: a run killed mid-push leaves little to look up again.
    for start in range(0, len(pending), RECORD_EVERY):
        _create_and_record(qb, engine, dict(pending[start:start + RECORD_EVERY]), run_id, result)
    if pending:
        progress(f"invoices: {result.pushed} created, {result.linked} linked, {result.failed} failed, "
                 f"{result.blocked} blocked")


def _create_and_record(qb, engine, drafts, run_id, result) -> None:
    outcomes: list[WriteOutcome] = qb.create_many("Invoice", [(str(i), d.payload()) for i, d in drafts.items()])
    duplicates = {drafts[int(o.key)].doc_number: int(o.key) for o in outcomes if o.error_code == "6140"}
    existing = qb.find_invoices(list(duplicates)) if duplicates else {}
    with session_scope(engine) as session:
        mirrored: dict[str, dict] = {}
        for outcome in outcomes:
            order_id = int(outcome.key)
            draft = drafts[order_id]
            if outcome.ok:
                _finish_synced(session, order_id, run_id, outcome.record, qb.realm_id, result, mirrored)
            elif draft.doc_number in existing and _same_customer(draft, existing[draft.doc_number]):
                _finish_synced(session, order_id, run_id, existing[draft.doc_number], qb.realm_id, result, mirrored,
                               linked=True)
            else:
                _finish_failed(session, order_id, run_id, outcome, result)
        _mirror(session, mirrored)


def _same_customer(draft: InvoiceDraft, record: dict) -> bool:
    """An invoice found by number is this order's only if it bills the same customer."""
    return str((record.get("CustomerRef") or {}).get("value")) == str(draft.customer.qb_id)


def _finish_synced(session: Session, order_id, run_id, record, realm_id, result, mirrored: dict[str, dict], *,
                   linked: bool = False) -> None:
    """Record the order synced; its invoice joins `mirrored`, written by `_mirror` in one statement."""
    if not queries.finish_claim(session, order_id, run_id, status=OrderStatus.SYNCED, qb_invoice_id=str(record["Id"])):
        result.lost_claims += 1
        return
    mirrored[str(record["Id"])] = invoice_row(record, realm_id)
    if linked:
        result.linked += 1
    else:
        result.pushed += 1


def _mirror(session: Session, mirrored: dict[str, dict]) -> None:
    queries.upsert_by_qb_id(session, QBInvoice, list(mirrored.values()), conflict_columns=("realm_id", "qb_id"))


def _finish_failed(session: Session, order_id, run_id, outcome: WriteOutcome, result) -> None:
    order = session.get(Order, order_id)
    reason = f"QuickBooks refused the invoice: {outcome.error_message or 'no reason given'}"
    if outcome.transient:
        reason = f"QuickBooks did not take the invoice this time ({outcome.error_message}); it is retried automatically"
    if outcome.error_code:
        reason += f" (code {outcome.error_code})"
    if outcome.error_code == "6140":
        reason = (f"invoice number {order.order_number!r} is already used in QuickBooks by an invoice for another "
                  "customer (or one that could not be found by number); renumber the order or fix that invoice")
    # Transient failures retry with back-off; a refusal of the data waits for a person to fix it.
    next_attempt = utcnow() + retry_delay(order.attempts) if outcome.transient else None
    if queries.finish_claim(session, order_id, run_id, status=OrderStatus.FAILED, reason=reason,
                            next_attempt_at=next_attempt):
        result.failed += 1
        result.reasons.append(f"{order.order_number}: {reason}")
    else:
        result.lost_claims += 1


def _finish_rejected(session: Session, order: Order, run_id: str, rejected: OrderRejected, result) -> None:
    blocked = rejected.status == OrderStatus.BLOCKED
    next_attempt: datetime | None = utcnow() + BLOCKED_RETRY if blocked else None
    if not queries.finish_claim(session, order.id, run_id, status=rejected.status, reason=rejected.reason,
                                next_attempt_at=next_attempt):
        result.lost_claims += 1
        return
    if blocked:
        result.blocked += 1
    else:
        result.failed += 1
    result.reasons.append(f"{order.order_number}: {rejected.reason}")

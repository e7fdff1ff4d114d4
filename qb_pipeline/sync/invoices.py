"""Orders → QuickBooks invoices: at most one invoice per order in any QuickBooks company; no order lost.

Independent safeguards, each shown to hold alone by a test with the others switched off
(`Safeguards.only`; README "At most one invoice per order"):
1. write_ahead — a batch is recorded (orders, exact body, a requestid) before it is sent, and any
   resend of those orders re-sends that body with that requestid first, so QuickBooks can answer with
   its first result. The gateway never re-sends a write whose outcome is unknown; this module decides.
2. lookup — before any resend whose outcome is unknown, and for an order an earlier attempt may have
   sent, one `DocNumber IN (…)` query: an invoice it lists is the outcome.
3. numbering_check — nothing is pushed unless the company keeps the DocNumbers we send
   (Preferences.SalesFormsPrefs.CustomTxnNumbers); before any resend whose outcome is unknown the
   preferences are read again, and a batch sent while they may have changed waits for a person.
4. strict_link — an invoice is linked to an order only when customer, total, line count and marker
   match, and never to a second order (a unique constraint backs this).
5. heartbeat — a run renews its claims every tenth of the stale period and sends only orders it still
   holds right before sending; a claim is taken over only once its heartbeat has been silent for the
   stale period.
6. settle — a batch whose outcome is unknown is neither looked up nor sent again until QuickBooks is
   done with it (`QB_REQUEST_LIMIT_SECONDS` after it was last sent or given up on): a lookup before
   then can miss an invoice QuickBooks is still creating. See `sync/unknown_outcomes.py`.
Every invoice names its order in PrivateNote, so invoices per order can be counted without us.
QuickBooks' own refusal of a second DocNumber (6140, a company setting) is answered by linking.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from qb_pipeline.core.errors import (
    QuickBooksAuthError,
    QuickBooksError,
    QuickBooksOutcomeUnknown,
    QuickBooksSetupError,
)
from qb_pipeline.core.port import QuickBooksPort, WriteOutcome
from qb_pipeline.db import queries
from qb_pipeline.db.models import InvoiceBatch, Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoice_draft import Catalog, InvoiceDraft, OrderRejected, draft_invoice
from qb_pipeline.sync.invoice_outcomes import (
    InvoicePushResult,
    Safeguards,
    mirror_invoice_rows,
)
from qb_pipeline.sync.push import push_name_list
from qb_pipeline.sync.unknown_outcomes import CUSTOM_NUMBERS_OFF, SETTLE_IN_RUN, Batch, UnknownOutcomes

__all__ = ["CUSTOM_NUMBERS_OFF", "InvoicePushResult", "Safeguards", "push_orders"]

STALE_CLAIM_AFTER = timedelta(minutes=15)  # of heartbeat silence, not of claim age
BATCH_SIZE = 30  # QuickBooks' batch limit; outcomes are recorded batch by batch
RESENDS = 3  # re-sends of one batch whose outcome stayed unknown, within one run
KEEP_ANSWERED_BATCHES = timedelta(days=1)


def push_orders(
    qb: QuickBooksPort,
    engine: sa.Engine,
    run_id: str,
    *,
    limit: int = 1000,
    stale_after: timedelta = STALE_CLAIM_AFTER,
    default_income_account_id: str | None = None,
    progress: Callable[[str], None] = lambda _message: None,
    safeguards: Safeguards = Safeguards(),
    resend_wait: float = 2.0,
    settle_in_run: float = SETTLE_IN_RUN,
) -> InvoicePushResult:
    """Claim due orders and turn them into invoices. `resend_wait`: the pause before the n-th resend of a
    batch whose outcome is unknown (n × it); `settle_in_run`: how long a run waits for QuickBooks to be
    done with such a batch before its orders are sent back to wait (see `sync/unknown_outcomes.py`)."""
    numbering = qb.invoice_numbering()
    if safeguards.numbering_check and not numbering.keeps_ours:
        raise QuickBooksSetupError(CUSTOM_NUMBERS_OFF)  # before any claim: every order stays pending
    result = InvoicePushResult()
    with session_scope(engine) as session:
        taken_over = set(queries.take_over_stale_claims(session, run_id, older_than=stale_after))
        claimed = queries.claim_orders(session, run_id, limit=limit)
    order_ids = sorted(taken_over | set(claimed))
    if taken_over:
        progress(f"took over {len(taken_over)} orders from runs whose heartbeat stopped")
    if not order_ids:
        return result
    progress(f"claimed {len(order_ids)} orders")
    push = _InvoicePush(qb, engine, run_id, safeguards, result, progress, resend_wait, stale_after, settle_in_run)
    try:
        push.resend_recorded(order_ids)
        drafts, maybe_sent = push.draft_all(order_ids, taken_over)
        push.link_existing(drafts, maybe_sent)
        drafts = push.ensure_prerequisites(drafts, default_income_account_id)
        push.create(drafts)
    finally:
        # Whatever stopped us, nothing stays claimed by this run: unfinished orders go back to pending
        # (an order whose batch outcome is unknown keeps its write-ahead record for the next attempt).
        with session_scope(engine) as session:
            queries.release_claims(session, run_id)
            queries.prune_answered_batches(session, older_than=KEEP_ANSWERED_BATCHES)
    return result


class _InvoicePush(UnknownOutcomes):
    def __init__(
        self,
        qb: QuickBooksPort,
        engine: sa.Engine,
        run_id: str,
        safeguards: Safeguards,
        result: InvoicePushResult,
        progress: Callable[[str], None],
        resend_wait: float,
        stale_after: timedelta,
        settle_in_run: float,
    ) -> None:
        super().__init__(engine, run_id, qb.realm_id, safeguards, result)
        self.qb, self.progress, self.resend_wait = qb, progress, resend_wait
        self.renew_every, self.renewed_at = stale_after.total_seconds() / 10, float("-inf")
        self.settle_in_run = settle_in_run
        # both from the preferences push_orders read already (one read a run)
        self.company_timezone = qb.company_timezone()
        self.preferences_version = qb.invoice_numbering().version

    # -- claims ------------------------------------------------------------------------------------
    def still_ours(self, order_ids) -> set[int]:
        """The heartbeat: renew this run's claims (every tenth of the stale period: stamping every held
        order after each of a big push's batches made PostgreSQL rewrite 10,000 rows 334 times); then
        which of `order_ids` it still holds."""
        wanted = set(order_ids)
        if not self.safeguards.heartbeat:
            return wanted
        with session_scope(self.engine) as session:
            if time.monotonic() - self.renewed_at >= self.renew_every:
                queries.renew_claims(session, self.run_id)
                self.renewed_at = time.monotonic()
            held = queries.held_claims(session, self.run_id, wanted)
        self.result.lost_claims += len(wanted - held)
        return held

    # -- 1. batches whose outcome is not known yet ---------------------------------------------------
    def resend_recorded(self, order_ids: list[int]) -> None:
        with session_scope(self.engine) as session:
            rows = session.execute(
                sa.select(
                    Order.id,
                    Order.outcome_unknown_at,
                    Order.sent_preferences_version,
                    InvoiceBatch.id,
                    InvoiceBatch.request_id,
                    InvoiceBatch.payload,
                )
                .join(InvoiceBatch, InvoiceBatch.id == Order.invoice_batch_id)
                .where(Order.id.in_(order_ids), Order.claimed_by == self.run_id)
            ).all()
        batches: dict[int, Batch] = {}
        for order_id, unknown_at, version, record_id, request_id, payload in rows:
            item = next(i for i in payload["items"] if i["order_id"] == order_id)
            batch = batches.setdefault(record_id, Batch(request_id, record_id, {}))
            batch.items[order_id] = (item["bId"], item["body"])
            batch.note_unanswered(unknown_at, version)
        for batch in batches.values():
            self.progress(
                f"re-sending recorded batch {batch.request_id} ({len(batch.items)} orders): its outcome was not known"
            )
            self.result.resent += len(batch.items)
            self.send(batch, recheck_first=True)

    # -- 2. drafts -----------------------------------------------------------------------------------
    def draft_all(self, order_ids, taken_over) -> tuple[dict[int, InvoiceDraft], dict[int, tuple]]:
        """Each claimed order's invoice, and the orders an earlier attempt may have sent (→ when it last
        went unanswered, and under which preferences; None when not known)."""
        drafts: dict[int, InvoiceDraft] = {}
        maybe_sent: dict[int, tuple] = {}
        with session_scope(self.engine) as session:
            orders = session.scalars(
                sa.select(Order)
                .where(Order.id.in_(order_ids), Order.claimed_by == self.run_id, Order.status == OrderStatus.PUSHING)
                .options(selectinload(Order.lines))
                .order_by(Order.id)
            ).all()
            catalog = Catalog(session, orders)
            for order in orders:
                try:
                    drafts[order.id] = draft_invoice(session, order, self.company_timezone, catalog)
                except OrderRejected as rejected:
                    self.finish_rejected(session, order, rejected)
                    continue
                except sa.exc.SQLAlchemyError:
                    raise  # the database's trouble, not the order's
                except Exception as error:  # a poison order fails alone; the run goes on
                    self.finish_rejected(
                        session,
                        order,
                        OrderRejected(
                            OrderStatus.FAILED,
                            f"the order could not be priced ({type(error).__name__}: {error}): "
                            "check its quantities and prices",
                        ),
                    )
                    continue
                # attempts counts this claim too: > 1 means an earlier attempt may have reached QBO
                if order.id in taken_over or order.attempts > 1 or order.outcome_unknown_at is not None:
                    maybe_sent[order.id] = (order.outcome_unknown_at, order.sent_preferences_version)
        return drafts, maybe_sent

    def link_existing(self, drafts: dict[int, InvoiceDraft], maybe_sent: dict[int, tuple]) -> None:
        """Orders an earlier attempt may have sent: once QuickBooks is surely done with that attempt, an
        invoice already in QuickBooks is their outcome."""
        in_doubt = Batch("earlier attempts", None, {})
        for order_id, (unknown_at, version) in maybe_sent.items():
            if order_id in drafts and unknown_at is not None:
                in_doubt.items[order_id] = ("", drafts[order_id].payload())
                in_doubt.note_unanswered(unknown_at, version)
        if in_doubt.items and self.hold_back(in_doubt):
            for order_id in in_doubt.items:
                drafts.pop(order_id)
        if not self.safeguards.lookup:
            return
        bodies = {i: drafts[i].payload() for i in maybe_sent if i in drafts and _in_quickbooks(drafts[i])}
        for order_id in self.link_found(bodies):
            drafts.pop(order_id)

    def ensure_prerequisites(self, drafts, default_income_account_id) -> dict[int, InvoiceDraft]:
        """Create customers and items the invoices need that are not in QuickBooks yet, then re-draft."""
        missing_customers = {d.customer.id for d in drafts.values() if d.customer.qb_id is None}
        missing_items = {line.item.id for d in drafts.values() for line in d.lines if line.item.qb_id is None}
        if not missing_customers and not missing_items:
            return drafts
        if missing_customers:
            push_name_list(self.qb, self.engine, "Customer", row_ids=sorted(missing_customers))
        if missing_items:
            push_name_list(
                self.qb,
                self.engine,
                "Item",
                row_ids=sorted(missing_items),
                default_income_account_id=default_income_account_id,
            )
        redrafted: dict[int, InvoiceDraft] = {}
        with session_scope(self.engine) as session:
            orders = session.scalars(
                sa.select(Order)
                .where(Order.id.in_(self.still_ours(drafts)))
                .options(selectinload(Order.lines))
                .order_by(Order.id)
            ).all()
            catalog = Catalog(session, orders)
            for order in orders:
                try:
                    draft = draft_invoice(session, order, self.company_timezone, catalog)
                    if not _in_quickbooks(draft):
                        raise OrderRejected(OrderStatus.BLOCKED, "a customer or item is not in QuickBooks yet")
                    redrafted[order.id] = draft
                except OrderRejected as rejected:
                    self.finish_rejected(session, order, rejected)
        return redrafted

    # -- 3. new batches ------------------------------------------------------------------------------
    def create(self, drafts: dict[int, InvoiceDraft]) -> None:
        pending = sorted(drafts)
        for start in range(0, len(pending), BATCH_SIZE):
            chunk = self.still_ours(pending[start : start + BATCH_SIZE])  # right before sending
            if chunk:
                self.send(self.record_batch({i: drafts[i].payload() for i in sorted(chunk)}))
        if pending:
            self.progress(
                f"invoices: {self.result.pushed} created, {self.result.linked} linked, "
                f"{self.result.failed} failed, {self.result.blocked} blocked"
            )

    def record_batch(self, bodies: dict[int, dict]) -> Batch:
        """Write ahead: which orders, the exact body and a requestid, committed before anything is sent."""
        # Amounts as strings, exactly as python-quickbooks puts them on the wire.
        items = {
            order_id: (str(n), json.loads(json.dumps(body, default=str)))
            for n, (order_id, body) in enumerate(bodies.items())
        }
        request_id = uuid.uuid4().hex  # 32 characters; QuickBooks allows 36 on /batch
        if not self.safeguards.write_ahead:
            batch = Batch(request_id, None, items)
            self.stamp_unanswered(batch)
            return batch
        with session_scope(self.engine) as session:
            record = InvoiceBatch(
                request_id=request_id,
                run_id=self.run_id,
                payload={
                    "items": [
                        {"order_id": order_id, "bId": bid, "body": body} for order_id, (bid, body) in items.items()
                    ]
                },
            )
            session.add(record)
            session.flush()
            batch = Batch(request_id, record.id, items)
            self.note_sending(batch)  # stamped with the record: one UPDATE of the batch's orders, not two
            session.execute(
                sa.update(Order)
                .where(Order.id.in_(list(items)))
                .values(
                    invoice_batch_id=record.id,
                    outcome_unknown_at=batch.unknown_at,
                    sent_preferences_version=batch.preferences_version,
                )
                .execution_options(synchronize_session=False)
            )
            return batch

    def send(self, batch: Batch, *, recheck_first: bool = False) -> None:
        """Send once; while the outcome stays unknown: wait until QuickBooks is done with it, look up,
        re-send the rest with the same requestid."""
        unknown: QuickBooksOutcomeUnknown | None = None
        for attempt in range(RESENDS + 1):
            if recheck_first or attempt:
                if self.hold_back(batch, pause=self.resend_wait * attempt):
                    return
                for order_id in set(batch.items) - self.still_ours(batch.items):
                    del batch.items[order_id]
                if self.safeguards.lookup:
                    for order_id in self.link_found({i: body for i, (_bid, body) in batch.items.items()}):
                        del batch.items[order_id]
                if not batch.items:
                    return
                if not self.safeguards.write_ahead:
                    batch.request_id = uuid.uuid4().hex
                self.stamp_unanswered(batch)  # a first send was stamped by record_batch
            try:
                outcomes = self.qb.send_batch(
                    "Invoice", [(str(i), bid, body) for i, (bid, body) in batch.items.items()], batch.request_id
                )
            except QuickBooksOutcomeUnknown as error:
                self.stamp_unanswered(batch)  # QuickBooks may apply it until its limit after now
                unknown = error
                if attempt < RESENDS:
                    self.progress(
                        f"invoice batch {batch.request_id}: {error}; retry {attempt + 1}/{RESENDS} after a "
                        "lookup, with the same request id"
                    )
                continue
            except QuickBooksAuthError:
                raise  # every later call would fail too: stop; the orders go back to pending
            except QuickBooksError as error:  # throttled past the retry budget: not taken this time
                self.fail_for_now(
                    batch.items, f"QuickBooks did not take the invoice this time ({error}); it is retried automatically"
                )
                return
            self.record_outcomes(batch, outcomes)
            return
        self.fail_for_now(
            batch.items,
            f"QuickBooks did not say whether it took the invoice (gave up after "
            f"{RESENDS + 1} tries: {unknown}); it is looked up and re-sent with the same "
            "request id automatically",
        )

    def record_outcomes(self, batch: Batch, outcomes: list[WriteOutcome]) -> None:
        bodies = {i: body for i, (_bid, body) in batch.items.items()}
        refused_as_duplicate = [bodies[int(o.key)]["DocNumber"] for o in outcomes if o.error_code == "6140"]
        existing = self.qb.find_invoices(refused_as_duplicate) if refused_as_duplicate else {}
        with session_scope(self.engine) as session:
            mirrored: dict[str, dict] = {}
            self.finish_synced_many(session, [(int(o.key), o.record) for o in outcomes if o.ok], mirrored)
            for outcome in outcomes:
                order_id = int(outcome.key)
                if outcome.ok:
                    continue
                elif outcome.error_code == "6140" and existing.get(bodies[order_id]["DocNumber"]):
                    self.link_or_fail(
                        session, order_id, bodies[order_id], existing[bodies[order_id]["DocNumber"]], mirrored
                    )
                else:
                    self.finish_failed(session, order_id, outcome)
            mirror_invoice_rows(session, mirrored)

    # -- linking -------------------------------------------------------------------------------------
    def link_found(self, bodies: dict[int, dict]) -> set[int]:
        """Look the bodies' DocNumbers up; orders whose invoice exists are linked (or failed on a mismatch)."""
        if not bodies:
            return set()
        existing = self.qb.find_invoices([body["DocNumber"] for body in bodies.values()])
        handled: set[int] = set()
        with session_scope(self.engine) as session:
            mirrored: dict[str, dict] = {}
            for order_id, body in bodies.items():
                candidates = existing.get(body["DocNumber"])
                if candidates:
                    self.link_or_fail(session, order_id, body, candidates, mirrored)
                    handled.add(order_id)
            mirror_invoice_rows(session, mirrored)
        return handled


def _in_quickbooks(draft: InvoiceDraft) -> bool:
    return draft.customer.qb_id is not None and all(line.item.qb_id is not None for line in draft.lines)

"""Recording what happened to each order of an invoice push (see `sync/invoices.py` for the safeguards)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.port import QuickBooksPort, WriteOutcome
from qb_pipeline.db import queries
from qb_pipeline.db.mirror_rows import upsert_by_qb_id
from qb_pipeline.db.models import Order, OrderStatus, QBInvoice
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.entities import INVOICES
from qb_pipeline.sync.invoice_draft import OrderRejected
from qb_pipeline.sync.invoice_match import StrictLink
from qb_pipeline.sync.records import money
from qb_pipeline.sync.wording import plural

BLOCKED_RETRY = timedelta(hours=1)  # a prerequisite may be fixed in QuickBooks meanwhile
MAX_RETRY_DELAY = timedelta(hours=6)


@dataclass
class InvoicePushResult:
    pushed: int = 0
    linked: int = 0  # found already in QuickBooks (crash recovery, retries)
    failed: int = 0
    blocked: int = 0
    lost_claims: int = 0  # taken over by another run meanwhile (not an error)
    resent: int = 0  # orders of recorded batches sent again with their first requestid
    reasons: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.pushed + self.linked + self.failed + self.blocked

    def summary(self) -> str:
        return (
            f"Synced {plural(self.pushed, 'new invoice')}"
            + (f", linked {self.linked} already in QuickBooks" if self.linked else "")
            + (f", {self.failed} failed" if self.failed else "")
            + (f", {self.blocked} blocked" if self.blocked else "")
        )

    def as_metadata(self) -> dict[str, int]:
        return {
            "pushed": int(self.pushed),
            "linked_existing": int(self.linked),
            "resent_with_first_request_id": int(self.resent),
            "failed": int(self.failed),
            "blocked": int(self.blocked),
        }


@dataclass
class PushRun:
    """What every part of one invoice push shares."""

    qb: QuickBooksPort
    engine: sa.Engine
    run_id: str
    result: InvoicePushResult
    progress: Callable[[str], None]
    # the version of the company's preferences this run last found numbering on under (sync/unknown_outcomes.py)
    preferences_version: str | None = None


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


class OutcomeRecorder:
    """Each order's outcome, recorded only while this run still holds its claim."""

    def __init__(self, run: PushRun, link_rule: StrictLink) -> None:
        self.run, self.link_rule = run, link_rule
        self.run_id, self.result = run.run_id, run.result

    def invoice_holders(self, session: Session, invoice_ids) -> dict[str, int]:
        """Which order of this company holds each of these QuickBooks invoice ids now: read once for a
        batch's outcomes (Ids repeat across companies)."""
        ids = sorted(set(invoice_ids))
        if not ids:
            return {}
        ours = Order.realm_id == self.run.qb.realm_id
        return dict(
            session.execute(sa.select(Order.qb_invoice_id, Order.id).where(ours, Order.qb_invoice_id.in_(ids))).all()
        )

    def finish_synced(
        self, session: Session, order_id: int, record: dict, mirrored: dict[str, dict], *, linked: bool = False
    ) -> None:
        self.finish_synced_many(session, [(order_id, record)], mirrored, linked=linked)

    def finish_synced_many(
        self,
        session: Session,
        answered: list[tuple[int, dict]],
        mirrored: dict[str, dict],
        *,
        linked: bool = False,
    ) -> None:
        """Orders QuickBooks answered with their invoice: each checked against the invoice's holder (one
        invoice is never linked to two orders, within the batch too), then recorded."""
        holders = self.invoice_holders(session, [str(record["Id"]) for _order_id, record in answered])
        accepted: dict[int, tuple[str, dict]] = {}
        for order_id, record in answered:
            invoice_id = str(record["Id"])
            holding = holders.get(invoice_id)
            if not self.link_rule.may_link(holding, order_id):
                self.finish_refused(
                    session,
                    order_id,
                    f"QuickBooks invoice {record.get('DocNumber')} (Id "
                    f"{invoice_id}) already belongs to order {session.get(Order, holding).order_number!r}: one "
                    "invoice is never linked to two orders",
                )
                continue
            holders[invoice_id] = order_id
            accepted[order_id] = (invoice_id, record)
        recorded = queries.finish_synced_claims(
            session,
            self.run_id,
            [
                (order_id, invoice_id, money(record.get("TotalAmt")))
                for order_id, (invoice_id, record) in accepted.items()
            ],
        )
        for order_id, (invoice_id, record) in accepted.items():
            if order_id not in recorded:
                self.result.lost_claims += 1  # taken over meanwhile: the other run owns the order now
                continue
            mirrored[invoice_id] = INVOICES.to_row(record, self.run.qb.realm_id)
            if linked:
                self.result.linked += 1
            else:
                self.result.pushed += 1

    def finish_failed(self, session: Session, order_id: int, outcome: WriteOutcome) -> None:
        order = session.get(Order, order_id)
        reason = f"QuickBooks refused the invoice: {outcome.error_message or 'no reason given'}"
        if outcome.transient:
            reason = (
                f"QuickBooks did not take the invoice this time ({outcome.error_message}); it is retried automatically"
            )
        if outcome.error_code:
            reason += f" (code {outcome.error_code})"
        if outcome.error_code == "6140":
            reason = (
                f"invoice number {order.order_number!r} is already used in QuickBooks by an invoice that could "
                "not be found by number; renumber the order or fix that invoice"
            )
        # Transient failures retry with back-off; a refusal of the data waits for a person to fix it.
        next_attempt = utcnow() + retry_delay(order.attempts) if outcome.transient else None
        self._finish(session, order, OrderStatus.FAILED, reason, next_attempt, batch_answered=True)

    def finish_refused(self, session: Session, order_id: int, reason: str, *, batch_answered: bool = True) -> None:
        """Failed until a person looks (`batch_answered=False`: its batch's outcome is still unknown, so the
        write-ahead record stays for the retry)."""
        order = session.get(Order, order_id)
        self._finish(session, order, OrderStatus.FAILED, reason, None, batch_answered=batch_answered)

    def fail_for_now(self, items, reason: str, *, not_before: datetime | None = None) -> None:
        """The outcome is unknown or QuickBooks was busy: retried with back-off (not before `not_before`);
        the batch record stays."""
        with session_scope(self.run.engine) as session:
            for order_id in items:
                order = session.get(Order, order_id)
                due = utcnow() + retry_delay(order.attempts)
                self._finish(session, order, OrderStatus.FAILED, reason, max(due, not_before or due))

    def finish_rejected(self, session: Session, order: Order, rejected: OrderRejected) -> None:
        blocked = rejected.status == OrderStatus.BLOCKED
        self._finish(session, order, rejected.status, rejected.reason, utcnow() + BLOCKED_RETRY if blocked else None)

    def _finish(
        self,
        session: Session,
        order: Order,
        status: OrderStatus,
        reason: str,
        next_attempt: datetime | None,
        *,
        batch_answered: bool = False,
    ) -> None:
        if not queries.finish_claim(
            session,
            order.id,
            self.run_id,
            status=status,
            reason=reason,
            next_attempt_at=next_attempt,
            batch_answered=batch_answered,
        ):
            self.result.lost_claims += 1
            return
        if status == OrderStatus.BLOCKED:
            self.result.blocked += 1
        else:
            self.result.failed += 1
        self.result.reasons.append(f"{order.order_number}: {reason}")


def mirror_invoice_rows(session: Session, mirrored: dict[str, dict]) -> None:
    upsert_by_qb_id(session, QBInvoice, list(mirrored.values()), conflict_columns=INVOICES.key_columns)

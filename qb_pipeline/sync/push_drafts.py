"""The invoices of a push's claimed orders: each drafted (a bad order fails alone, with a reason), the
customers and items they need created in QuickBooks first, then drafted again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoice_claims import Heartbeat
from qb_pipeline.sync.invoice_draft import Catalog, InvoiceDraft, OrderRejected, draft_invoice
from qb_pipeline.sync.invoice_outcomes import OutcomeRecorder, PushRun
from qb_pipeline.sync.push import push_name_list


class PushDrafts:
    def __init__(self, run: PushRun, recorder: OutcomeRecorder, heartbeat: Heartbeat) -> None:
        self.run, self.recorder, self.heartbeat = run, recorder, heartbeat
        self.company_timezone: tzinfo = run.qb.company_timezone()  # from the preferences read already

    def draft_all(self, order_ids, taken_over) -> tuple[dict[int, InvoiceDraft], dict[int, tuple]]:
        """Each claimed order's invoice, and the orders an earlier attempt may have sent (→ when it last
        went unanswered, and under which preferences; None when not known)."""
        drafts: dict[int, InvoiceDraft] = {}
        maybe_sent: dict[int, tuple] = {}
        with session_scope(self.run.engine) as session:
            orders = self._orders(
                session,
                Order.id.in_(order_ids),
                Order.claimed_by == self.run.run_id,
                Order.status == OrderStatus.PUSHING,
            )
            catalog = Catalog(session, orders)
            for order in orders:
                draft = self._draft(session, order, catalog)
                if draft is None:
                    continue
                drafts[order.id] = draft
                # attempts counts this claim too: > 1 means an earlier attempt may have reached QBO
                if order.id in taken_over or order.attempts > 1 or order.outcome_unknown_at is not None:
                    maybe_sent[order.id] = (order.outcome_unknown_at, order.sent_preferences_version)
        return drafts, maybe_sent

    @staticmethod
    def _orders(session: Session, *conditions) -> Sequence[Order]:
        return session.scalars(
            sa.select(Order).where(*conditions).options(selectinload(Order.lines)).order_by(Order.id)
        ).all()

    def _draft(self, session: Session, order: Order, catalog: Catalog) -> InvoiceDraft | None:
        """The order's invoice, or None when the order failed (recorded here): a poison order fails alone."""
        try:
            return draft_invoice(session, order, self.company_timezone, catalog)
        except OrderRejected as rejected:
            self.recorder.finish_rejected(session, order, rejected)
        except sa.exc.SQLAlchemyError:
            raise  # the database's trouble, not the order's
        except Exception as error:  # the run goes on with the other orders
            reason = f"the order could not be priced ({type(error).__name__}: {error}): check its quantities and prices"
            self.recorder.finish_rejected(session, order, OrderRejected(OrderStatus.FAILED, reason))
        return None

    def ensure_prerequisites(self, drafts, default_income_account_id) -> dict[int, InvoiceDraft]:
        """Create customers and items the invoices need that are not in QuickBooks yet, then re-draft."""
        missing_customers = {d.customer.id for d in drafts.values() if d.customer.qb_id is None}
        missing_items = {line.item.id for d in drafts.values() for line in d.lines if line.item.qb_id is None}
        if not missing_customers and not missing_items:
            return drafts
        if missing_customers:
            push_name_list(self.run.qb, self.run.engine, "Customer", row_ids=sorted(missing_customers))
        if missing_items:
            push_name_list(
                self.run.qb,
                self.run.engine,
                "Item",
                row_ids=sorted(missing_items),
                default_income_account_id=default_income_account_id,
            )
        return self._redraft(self.heartbeat.still_ours(drafts))

    def _redraft(self, order_ids: set[int]) -> dict[int, InvoiceDraft]:
        redrafted: dict[int, InvoiceDraft] = {}
        with session_scope(self.run.engine) as session:
            orders = self._orders(session, Order.id.in_(order_ids))  # held: checked by the heartbeat just now
            catalog = Catalog(session, orders)
            for order in orders:
                try:
                    draft = draft_invoice(session, order, self.company_timezone, catalog)
                    if not draft.in_quickbooks:
                        raise OrderRejected(OrderStatus.BLOCKED, "a customer or item is not in QuickBooks yet")
                    redrafted[order.id] = draft
                except OrderRejected as rejected:
                    self.recorder.finish_rejected(session, order, rejected)
        return redrafted

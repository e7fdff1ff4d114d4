"""QuickBooks invoices mirrored into `qb_invoices`: balances, voids and deletes included.

Full on the first run, CDC after (deleted invoices only show up there), paged queries when CDC cannot
answer. An order whose invoice was voided or deleted in QuickBooks is flagged (`qb_invoice_state`)
and stays `synced`: it is never pushed again without a person deciding so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.mirror_rows import upsert_by_qb_id
from qb_pipeline.db.models import Order, QBInvoice
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.entities import INVOICES
from qb_pipeline.sync.incremental import OVERLAP, read_changes
from qb_pipeline.sync.wording import plural

ENTITY = INVOICES.name


@dataclass
class MirrorResult:
    mode: str
    updated: int = 0
    deleted: int = 0
    voided: int = 0
    flagged_orders: int = 0
    # The whole mirror after this run: what customers still owe, and how many invoices are paid.
    open_balance: Decimal = Decimal("0")
    paid: int = 0
    unpaid: int = 0

    def summary(self) -> str:
        return f"mirrored {plural(self.updated, 'invoice')} ({self.mode})" + (
            f", {plural(self.flagged_orders, 'order')} flagged voided/deleted" if self.flagged_orders else ""
        )

    def as_metadata(self) -> dict[str, int | float]:
        return {
            "mirrored": int(self.updated),
            "voided_or_deleted_flagged": int(self.flagged_orders),
            "open_balance": float(self.open_balance),  # Decimal everywhere else: the UI plots floats
            "paid_invoices": int(self.paid),
            "unpaid_invoices": int(self.unpaid),
        }


def is_voided(record: dict) -> bool:
    """QBO keeps a voided invoice with zero amounts and a 'Voided' note."""
    return str(record.get("PrivateNote", "")).startswith("Voided") and Decimal(str(record.get("TotalAmt", 0))) == 0


def mirror_invoices(
    qb: QuickBooksPort,
    engine: sa.Engine,
    *,
    now: datetime | None = None,
    overlap: timedelta = OVERLAP,
    together_with: Sequence[str] = (),
    read: bool = True,
) -> MirrorResult:
    """`read=False`: webhooks and the daily catch-up keep the mirror (QB_PULL_ON_WEBHOOKS_ONLY); only the
    balances are summed."""
    if not read:
        result = MirrorResult("webhooks")
        with session_scope(engine) as session:
            _sum_balances(session, qb.realm_id, result)
        return result
    started = now or utcnow()
    # CDC cannot answer: page every invoice, so that ids we hold and QuickBooks no longer returns are
    # seen deleted before the cursor moves on (paging by update time cannot see a deletion).
    changes = read_changes(
        qb, engine, ENTITY, started, overlap=overlap, fallback_reads_everything=True, together_with=together_with
    )
    result, pages, deleted_ids = MirrorResult(changes.mode), changes.pages, changes.deleted_ids

    seen: set[str] = set()
    for page in pages:
        if not page:
            continue
        seen.update(str(record["Id"]) for record in page)
        rows = []
        for record in page:
            row = INVOICES.to_row(record, qb.realm_id)
            if is_voided(record):
                row["status"] = "voided"
                result.voided += 1
            rows.append(row)
        with session_scope(engine) as session:
            upsert_by_qb_id(session, QBInvoice, rows, conflict_columns=INVOICES.key_columns)
        result.updated += len(rows)

    if result.mode == "query":
        deleted_ids = _gone(qb, engine, seen)
    with session_scope(engine) as session:
        _mark_gone(session, qb.realm_id, deleted_ids, result)
        queries.advance_cursor(session, qb.realm_id, ENTITY, changes.covered_until, full=result.mode == "full")
        _sum_balances(session, qb.realm_id, result)
    return result


def _sum_balances(session: Session, realm_id: str, result: MirrorResult) -> None:
    live = (QBInvoice.realm_id == realm_id, QBInvoice.status.in_(["open", "paid"]))
    balance, result.paid, result.unpaid = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(QBInvoice.balance), 0),
            sa.func.count().filter(QBInvoice.status == "paid"),
            sa.func.count().filter(QBInvoice.status == "open"),
        ).where(*live)
    ).one()
    result.open_balance = Decimal(str(balance))


def _mark_gone(session: Session, realm_id: str, deleted_ids: list[str], result: MirrorResult) -> None:
    """Invoices QuickBooks deleted are marked so; orders whose invoice was voided or deleted are flagged."""
    if deleted_ids:
        session.execute(
            sa.update(QBInvoice)
            .where(QBInvoice.realm_id == realm_id, QBInvoice.qb_id.in_(deleted_ids))
            .values(status="deleted")
        )
        result.deleted = len(deleted_ids)
    gone = sa.select(QBInvoice.qb_id).where(QBInvoice.realm_id == realm_id, QBInvoice.status.in_(["voided", "deleted"]))
    for state in ("voided", "deleted"):
        flagged = session.execute(
            sa.update(Order)
            .where(
                Order.realm_id == realm_id,
                Order.qb_invoice_id.in_(gone.where(QBInvoice.status == state)),
                sa.or_(Order.qb_invoice_state.is_(None), Order.qb_invoice_state != state),
            )
            .values(qb_invoice_state=state)
            .execution_options(synchronize_session=False)
        )
        result.flagged_orders += flagged.rowcount or 0


def _gone(qb: QuickBooksPort, engine: sa.Engine, seen: set[str]) -> list[str]:
    """Mirrored invoices the full listing did not return, confirmed gone by asking for them by id
    (an invoice created while we paged is missing from the listing but not deleted)."""
    with session_scope(engine) as session:
        held = set(
            session.scalars(
                sa.select(QBInvoice.qb_id).where(QBInvoice.realm_id == qb.realm_id, QBInvoice.status != "deleted")
            )
        )
    missing = sorted(held - seen)
    return sorted(set(missing) - qb.existing_ids(ENTITY, missing)) if missing else []

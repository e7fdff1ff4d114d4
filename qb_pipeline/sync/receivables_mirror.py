"""QuickBooks payments and credit memos mirrored into `qb_payments` (what each line applies: `qb_payment_lines`)
and `qb_credit_memos`, voids and deletes included.

Read as invoices are (sync/incremental.py): everything first, CDC since the cursor after (in the run's
shared CDC call), and when CDC cannot answer every record paged, so that one we hold and QuickBooks no
longer returns is confirmed gone by its Id before the cursor moves on. Nothing is dropped: a payment naming
an invoice we do not hold keeps that application (reported until the invoice is mirrored); one in a
currency not the company's is kept with the reason, out of the sums; a deleted one stays, marked deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.mirror_rows import rows_by_qb_id, upsert_by_qb_id
from qb_pipeline.db.receivables import QBPayment, QBPaymentLine
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.entities import SYNCED, SyncedEntity
from qb_pipeline.sync.incremental import OVERLAP, read_changes
from qb_pipeline.sync.payment_checks import PaymentFindings, payment_findings, sum_open

GONE = ("voided", "deleted")


@dataclass
class ReceivablesResult:
    entity: str
    mode: str  # "full", "cdc", "query", or "webhooks" (not read: QB_PULL_ON_WEBHOOKS_ONLY)
    mirrored: int = 0
    new: int = 0
    voided: int = 0
    deleted: int = 0
    set_apart: list[str] = field(default_factory=list)  # this pull's records in a currency not the company's
    # The whole mirror after this pull: how many are open, what they leave open in the company's currency
    # (payments: not applied yet; credit memos: credit left), and what payments apply that we cannot follow.
    open: int = 0
    open_amount: Decimal = Decimal("0")
    findings: PaymentFindings = field(default_factory=PaymentFindings)

    def summary(self, label: str) -> str:
        if self.mode == "webhooks":
            return f"{label} not read (QB_PULL_ON_WEBHOOKS_ONLY: webhooks and the daily catch-up bring changes)"
        told = [f"mirrored {self.mirrored} {label.lower()} ({self.mode}, {self.new} new)"]
        if self.voided or self.deleted:
            told.append(f"{self.voided} voided, {self.deleted} deleted in QuickBooks")
        told += self.set_apart[:5] + self.findings.sentences()
        return "; ".join(told)

    def as_metadata(self) -> dict[str, int | float | str]:
        return {
            "mirrored": int(self.mirrored),
            "new_from_quickbooks": int(self.new),
            "voided": int(self.voided),
            "deleted": int(self.deleted),
            "pull_mode": self.mode,
            "open": int(self.open),
            "open_amount": float(self.open_amount),  # Decimal everywhere else: the UI plots floats
            "other_currency": len(self.set_apart),
            **self.findings.as_metadata(),
        }


def mirror_receivables(
    qb: QuickBooksPort,
    engine: sa.Engine,
    entity: str,
    *,
    now: datetime | None = None,
    overlap: timedelta = OVERLAP,
    together_with: Sequence[str] = (),
    read: bool = True,
) -> ReceivablesResult:
    """Mirror what changed of `entity` ("Payment" or "CreditMemo"). `read=False`: webhooks and the daily
    catch-up keep the mirror (QB_PULL_ON_WEBHOOKS_ONLY); only the whole mirror's numbers are taken."""
    spec = SYNCED[entity]
    if not read:
        result = ReceivablesResult(entity, "webhooks")
        with session_scope(engine) as session:
            _survey(session, spec, qb.realm_id, result)
        return result
    started = now or utcnow()
    changes = read_changes(
        qb, engine, entity, started, overlap=overlap, fallback_reads_everything=True, together_with=together_with
    )
    result, currency = ReceivablesResult(entity, changes.mode), _CompanyCurrency(qb)
    seen: set[str] = set()
    for page in changes.pages:
        if not page:
            continue
        seen.update(str(record["Id"]) for record in page)
        rows = [spec.to_row(record, qb.realm_id) for record in page]
        result.set_apart += currency.set_apart(spec, rows)
        with session_scope(engine) as session:
            _write(session, spec, rows, result)
    deleted_ids = _gone(qb, engine, spec, seen) if result.mode == "query" else changes.deleted_ids
    with session_scope(engine) as session:
        _mark_deleted(session, spec, qb.realm_id, deleted_ids, result)
        queries.advance_cursor(session, qb.realm_id, entity, changes.covered_until, full=result.mode == "full")
        _survey(session, spec, qb.realm_id, result)
    return result


class _CompanyCurrency:
    """The company's own currency, read (one metered read) only when a record names a currency at all:
    without multicurrency QuickBooks may send none, and a record without one is in the company's."""

    def __init__(self, qb: QuickBooksPort) -> None:
        self.qb = qb
        self._code: str | None = None

    def set_apart(self, spec: SyncedEntity, rows: list[dict]) -> list[str]:
        """Marks the rows in another currency (their amounts kept, left out of every sum); says which."""
        said = []
        for row in rows:
            if row["currency"] is None or row["currency"] == self.code():
                continue
            row["set_apart"] = f"in {row['currency']}, not the company's {self.code()}: kept out of the sums"
            said.append(f"{spec.word} {row['qb_id']} is {row['set_apart']}")
        return said

    def code(self) -> str | None:
        if self._code is None:
            self._code = self.qb.company_currency() or ""
        return self._code or None


def _write(session: Session, spec: SyncedEntity, rows: list[dict], result: ReceivablesResult) -> None:
    realm_id = rows[0]["realm_id"]
    held = {row.qb_id for row in rows_by_qb_id(session, spec.model, [r["qb_id"] for r in rows], realm_id)}
    applications = [line for row in rows for line in row.pop("applications", [])]
    upsert_by_qb_id(session, spec.model, rows, conflict_columns=spec.key_columns)
    if spec.model is QBPayment:  # a payment's lines, as they are now: those of its last version replaced
        session.execute(
            sa.delete(QBPaymentLine).where(
                QBPaymentLine.realm_id == realm_id, QBPaymentLine.payment_qb_id.in_([r["qb_id"] for r in rows])
            )
        )
        if applications:
            session.execute(sa.insert(QBPaymentLine), applications)
    result.mirrored += len(rows)
    result.new += sum(row["qb_id"] not in held for row in rows)
    result.voided += sum(row["status"] == "voided" for row in rows)


def _mark_deleted(
    session: Session, spec: SyncedEntity, realm_id: str, deleted_ids: list[str], result: ReceivablesResult
) -> None:
    """Deleted in QuickBooks: kept here, marked deleted (its applications stay, read as applying nothing)."""
    if not deleted_ids:
        return
    done = session.execute(
        sa.update(spec.model)
        .where(spec.model.realm_id == realm_id, spec.model.qb_id.in_(deleted_ids), spec.model.status != "deleted")
        .values(status="deleted")
        .execution_options(synchronize_session=False)
    )
    result.deleted += done.rowcount or 0


def _gone(qb: QuickBooksPort, engine: sa.Engine, spec: SyncedEntity, seen: set[str]) -> list[str]:
    """Records held that a full listing did not return, confirmed gone by asking for them by Id (one made
    while we paged is missing from the listing but not deleted)."""
    model = spec.model
    with session_scope(engine) as session:
        held = set(
            session.scalars(sa.select(model.qb_id).where(model.realm_id == qb.realm_id, model.status != "deleted"))
        )
    missing = sorted(held - seen)
    return sorted(set(missing) - qb.existing_ids(spec.name, missing)) if missing else []


def _survey(session: Session, spec: SyncedEntity, realm_id: str, result: ReceivablesResult) -> None:
    result.open, result.open_amount = sum_open(session, spec.model, realm_id)
    if spec.model is QBPayment:
        result.findings = payment_findings(session, realm_id)

"""Database → QuickBooks for the name lists: create unpushed rows, send local edits.

- Rows without a QBO Id are created in batches (≤30 a call, by the port).
- A name clash (6240, "Duplicate Name Exists Error", for customers and items alike) means the record
  already exists in QuickBooks under that name: the local row is linked to it, not created again (the name
  is the identity QBO enforces).
- Rows edited locally since their last sync are sent as sparse updates with their SyncToken.
- Any other refusal marks the row FAILED with QuickBooks' message; the rest of the batch goes on.
  A FAILED row is retried once a person edits it (which sets local_updated_at again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from qb_pipeline.db.models import Item, SyncState
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.entities import NAME_LISTS
from qb_pipeline.sync.port import QuickBooksPort, WriteOutcome
from qb_pipeline.sync.records import parse_instant

DUPLICATE_NAME_CODES = {"6240"}  # a name taken (6140 is an invoice's DocNumber taken: never a name list's)


def income_account_for_new_items(qb: QuickBooksPort, engine: sa.Engine, configured: str | None) -> str | None:
    """The configured income account, else QuickBooks' first — asked only when an item needs creating."""
    if configured:
        return configured
    with session_scope(engine) as session:
        unpushed = session.scalar(sa.select(sa.func.count()).select_from(Item).where(Item.qb_id.is_(None)))
    # Outside the transaction: never hold the database while talking to QuickBooks.
    return qb.default_income_account_id() if unpushed else None


@dataclass
class PushResult:
    entity: str
    created: int = 0
    updated: int = 0
    linked: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"pushed {self.created} new and {self.updated} changed" + (
            f", {self.failed} failed" if self.failed else ""
        )

    def as_metadata(self) -> dict[str, int]:
        return {
            "created_in_quickbooks": int(self.created),
            "updated_in_quickbooks": int(self.updated),
            "failed": int(self.failed),
        }


def push_name_list(
    qb: QuickBooksPort,
    engine: sa.Engine,
    entity: str,
    *,
    default_income_account_id: str | None = None,
    row_ids: list[int] | None = None,
) -> PushResult:
    """Push every pending row of `entity` (or just `row_ids`, for an order's prerequisites)."""
    spec = NAME_LISTS[entity]
    model, name_of, name_key = spec.model, spec.name_of, spec.quickbooks.name_field

    def payload(row) -> dict:
        return spec.to_payload(row, default_income_account_id)

    result = PushResult(entity)
    with session_scope(engine) as session:
        pending = sa.select(model).where(
            sa.or_(
                sa.and_(model.qb_id.is_(None), model.sync_state != SyncState.FAILED),
                sa.and_(
                    model.local_updated_at.is_not(None),
                    sa.or_(model.synced_at.is_(None), model.local_updated_at > model.synced_at),
                ),
            )
        )
        if row_ids is not None:
            pending = pending.where(model.id.in_(row_ids))
        rows = session.scalars(pending.order_by(model.id)).all()
        creates = [(str(r.id), payload(r)) for r in rows if r.qb_id is None]
        updates = [
            (str(r.id), {**payload(r), "Id": r.qb_id, "SyncToken": r.qb_sync_token, "sparse": True})
            for r in rows
            if r.qb_id is not None
        ]

    if creates:
        outcomes = qb.create_many(entity, creates)
        # Look clashing names up before opening a transaction: never hold the database while
        # talking to QuickBooks (on SQLite that would block the token store, and everyone else).
        names = {key: payload_[name_key] for key, payload_ in creates}
        existing = {
            o.key: qb.find_by_name(entity, names[o.key]) for o in outcomes if o.error_code in DUPLICATE_NAME_CODES
        }
        with session_scope(engine) as session:
            for outcome in outcomes:
                row = session.get(model, int(outcome.key))
                if outcome.ok:
                    _record_saved(row, outcome.record)
                    result.created += 1
                elif existing.get(outcome.key) is not None:
                    record = existing[outcome.key]
                    holder = session.scalar(
                        sa.select(model).where(model.qb_id == str(record["Id"]), model.id != row.id)
                    )
                    if holder is not None:  # two local rows for one QuickBooks record: a person must merge them
                        _record_failure(
                            row,
                            WriteOutcome(
                                outcome.key,
                                error_message=(
                                    f"the name is taken in QuickBooks by {entity} {record['Id']}, which local row "
                                    f"{holder.id} ({name_of(holder)!r}) is already linked to; merge the two rows or rename "
                                    "this one"
                                ),
                            ),
                            result,
                            name_of(row),
                        )
                        continue
                    _record_saved(row, record)
                    row.active = bool(record.get("Active", True))
                    result.linked += 1
                else:
                    _record_failure(row, outcome, result, name_of(row))
    if updates:
        outcomes = qb.update_many(entity, updates)
        with session_scope(engine) as session:
            for outcome in outcomes:
                row = session.get(model, int(outcome.key))
                if outcome.ok:
                    _record_saved(row, outcome.record)
                    result.updated += 1
                else:
                    _record_failure(row, outcome, result, name_of(row))
    return result


def _record_saved(row, record: dict) -> None:
    row.qb_id = str(record["Id"])
    row.qb_sync_token = str(record.get("SyncToken", "0"))
    row.qb_updated_at = parse_instant((record.get("MetaData") or {}).get("LastUpdatedTime"))
    row.sync_state, row.last_error = SyncState.SYNCED, None
    row.synced_at = utcnow()


def _record_failure(row, outcome: WriteOutcome, result: PushResult, name: str) -> None:
    message = f"QuickBooks refused {result.entity.lower()} {name!r}: {outcome.error_message or 'no reason given'}"
    if outcome.error_code:
        message += f" (code {outcome.error_code})"
    row.sync_state, row.last_error = SyncState.FAILED, message
    row.synced_at = utcnow()  # the attempt is done; a new local edit makes it pending again
    result.failed += 1
    result.errors.append(message)

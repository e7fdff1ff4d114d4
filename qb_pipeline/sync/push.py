"""Database → QuickBooks for the name lists: create unpushed rows, send local edits.

- Rows without a QBO Id are created in batches (≤30 a call, by the port).
- A name clash (the entity's duplicate-name codes, quickbooks/entities.py: 6240, "Duplicate Name Exists
  Error", for customers and items alike) means the record already exists in QuickBooks under that name:
  the local row is linked to it, not created again (the name is the identity QBO enforces).
- Rows edited locally since their last sync are sent as sparse updates with their SyncToken.
- Any other refusal marks the row FAILED with QuickBooks' message; the rest of the batch goes on.
  A FAILED row is retried once a person edits it (which sets local_updated_at again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import SyncState
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.entities import NAME_LISTS, SyncedEntity
from qb_pipeline.sync.port import QuickBooksPort, WriteOutcome
from qb_pipeline.sync.records import parse_instant


def income_account_for_new_rows(
    qb: QuickBooksPort, engine: sa.Engine, entities: Iterable[SyncedEntity], configured: str | None
) -> str | None:
    """The income account new rows of `entities` are created with, when one of them needs one: the configured
    account, else QuickBooks' first — asked only when such a row needs creating."""
    needing = [entity.model for entity in entities if entity.needs_income_account]
    if not needing:
        return None
    if configured:
        return configured
    with session_scope(engine) as session:
        unpushed = any(
            session.scalar(sa.select(sa.func.count()).select_from(model).where(model.qb_id.is_(None)))
            for model in needing
        )
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
    """Push every pending row of `entity` (its name in the registry; or just `row_ids`, for an order's
    prerequisites)."""
    spec = NAME_LISTS[entity]
    result = PushResult(entity)
    creates, updates = _pending(engine, spec, default_income_account_id, row_ids)
    if creates:
        outcomes = qb.create_many(entity, creates)
        # Look clashing names up before opening a transaction: never hold the database while
        # talking to QuickBooks (on SQLite that would block the token store, and everyone else).
        names = {key: payload[spec.quickbooks.name_field] for key, payload in creates}
        existing = {
            o.key: qb.find_by_name(entity, names[o.key])
            for o in outcomes
            if o.error_code in spec.quickbooks.duplicate_name_codes
        }
        with session_scope(engine) as session:
            for outcome in outcomes:
                _record_created(session, spec, outcome, existing.get(outcome.key), result)
    if updates:
        outcomes = qb.update_many(entity, updates)
        with session_scope(engine) as session:
            for outcome in outcomes:
                row = session.get(spec.model, int(outcome.key))
                if outcome.ok:
                    _record_saved(row, outcome.record)
                    result.updated += 1
                else:
                    _record_failure(row, outcome, result, spec.name_of(row))
    return result


def _pending(
    engine: sa.Engine, spec: SyncedEntity, default_income_account_id: str | None, row_ids: list[int] | None
) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """(creates, updates): the bodies of the rows never pushed, and of those edited since their last sync."""
    model = spec.model
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
    with session_scope(engine) as session:
        bodies = [
            (row, spec.to_payload(row, default_income_account_id))
            for row in session.scalars(pending.order_by(model.id))
        ]
        creates = [(str(row.id), body) for row, body in bodies if row.qb_id is None]
        updates = [
            (str(row.id), {**body, "Id": row.qb_id, "SyncToken": row.qb_sync_token, "sparse": True})
            for row, body in bodies
            if row.qb_id is not None
        ]
    return creates, updates


def _record_created(
    session: Session, spec: SyncedEntity, outcome: WriteOutcome, existing: dict | None, result: PushResult
) -> None:
    """A create's outcome: saved; or the name was taken by `existing`, which the row is linked to (unless
    another row here already is); or refused."""
    model, row = spec.model, session.get(spec.model, int(outcome.key))
    if outcome.ok:
        _record_saved(row, outcome.record)
        result.created += 1
        return
    if existing is None:
        _record_failure(row, outcome, result, spec.name_of(row))
        return
    holder = session.scalar(sa.select(model).where(model.qb_id == str(existing["Id"]), model.id != row.id))
    if holder is not None:  # two local rows for one QuickBooks record: a person must merge them
        message = (
            f"the name is taken in QuickBooks by {spec.name} {existing['Id']}, which local row {holder.id} "
            f"({spec.name_of(holder)!r}) is already linked to; merge the two rows or rename this one"
        )
        _record_failure(row, WriteOutcome(outcome.key, error_message=message), result, spec.name_of(row))
        return
    _record_saved(row, existing)
    row.active = bool(existing.get("Active", True))
    result.linked += 1


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

"""Database → QuickBooks for the name lists: create unpushed rows, send local edits.

- Rows without a QBO Id are created in batches (≤30 a call, by the port).
- A name clash (the entity's duplicate-name codes, core/quickbooks_entities.py: 6240, "Duplicate Name
  Exists Error", for customers and items alike) means the record already exists in QuickBooks under that
  name: the local row is linked to it, not created again (the name is the identity QBO enforces).
- Rows edited locally since their last sync are sent as sparse updates with their SyncToken.
- Any other refusal marks the row FAILED with QuickBooks' message; the rest of the batch goes on.
  A FAILED row is retried once a person edits it (which sets local_updated_at again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.port import QuickBooksPort, WriteOutcome
from qb_pipeline.db.models import SyncState
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.companies import adopt_for
from qb_pipeline.sync.entities import NAME_LISTS, SyncedEntity
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
    adopt_for(engine, qb.realm_id)  # a local row naming no company yet is this one's when it is the only one
    with session_scope(engine) as session:
        unpushed = any(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(model)
                .where(model.realm_id == qb.realm_id, model.qb_id.is_(None))
            )
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
    adopt_for(engine, qb.realm_id)  # rows naming no company are this one's when it is the only one
    creates, updates = _pending_bodies(engine, spec, qb.realm_id, default_income_account_id, row_ids)
    if creates:
        _push_creates(qb, engine, spec, creates, result)
    if updates:
        result.updated += _record_outcomes(engine, spec, qb.update_many(entity, updates), result)
    return result


Bodies = list[tuple[str, dict]]  # (our row id, QuickBooks body)


def _pending_bodies(
    engine: sa.Engine,
    spec: SyncedEntity,
    realm_id: str,
    default_income_account_id: str | None,
    row_ids: list[int] | None,
) -> tuple[Bodies, Bodies]:
    """The company's rows to create (no QuickBooks Id, not failed) and to update (edited since their last
    sync)."""
    model = spec.model
    with session_scope(engine) as session:
        pending = sa.select(model).where(
            model.realm_id == realm_id,
            sa.or_(
                sa.and_(model.qb_id.is_(None), model.sync_state != SyncState.FAILED),
                sa.and_(
                    model.local_updated_at.is_not(None),
                    sa.or_(model.synced_at.is_(None), model.local_updated_at > model.synced_at),
                ),
            ),
        )
        if row_ids is not None:
            pending = pending.where(model.id.in_(row_ids))
        rows = session.scalars(pending.order_by(model.id)).all()
        creates = [(str(r.id), spec.to_payload(r, default_income_account_id)) for r in rows if r.qb_id is None]
        updates = [
            (
                str(r.id),
                {
                    **spec.to_payload(r, default_income_account_id),
                    "Id": r.qb_id,
                    "SyncToken": r.qb_sync_token,
                    "sparse": True,
                },
            )
            for r in rows
            if r.qb_id is not None
        ]
    return creates, updates


def _push_creates(
    qb: QuickBooksPort, engine: sa.Engine, spec: SyncedEntity, creates: Bodies, result: PushResult
) -> None:
    outcomes = qb.create_many(spec.name, creates)
    # Look clashing names up before opening a transaction: never hold the database while
    # talking to QuickBooks (on SQLite that would block the token store, and everyone else).
    names = {key: body[spec.quickbooks.name_field] for key, body in creates}
    existing = {
        o.key: qb.find_by_name(spec.name, names[o.key])
        for o in outcomes
        if o.error_code in spec.quickbooks.duplicate_name_codes
    }
    result.created += _record_outcomes(engine, spec, outcomes, result, existing)


def _link_by_name(session: Session, spec: SyncedEntity, row, record: dict, result: PushResult) -> None:
    """The name is taken in QuickBooks: the record holding it is this row's, unless another local row is
    linked to it already (two local rows for one QuickBooks record: a person must merge them)."""
    model, name_of = spec.model, spec.name_of
    holder = session.scalar(
        sa.select(model).where(model.realm_id == row.realm_id, model.qb_id == str(record["Id"]), model.id != row.id)
    )
    if holder is not None:
        message = (
            f"the name is taken in QuickBooks by {spec.name} {record['Id']}, which local row "
            f"{holder.id} ({name_of(holder)!r}) is already linked to; merge the two rows or rename this one"
        )
        _record_failure(row, WriteOutcome(str(row.id), error_message=message), result, name_of(row))
        return
    _record_saved(row, record)
    row.active = bool(record.get("Active", True))
    result.linked += 1


def _record_outcomes(
    engine: sa.Engine,
    spec: SyncedEntity,
    outcomes: list[WriteOutcome],
    result: PushResult,
    holding_the_name: dict[str, dict | None] | None = None,
) -> int:
    """Each row's outcome: saved, linked to the QuickBooks record holding its name, or failed. Returns
    how many were saved."""
    saved = 0
    with session_scope(engine) as session:
        for outcome in outcomes:
            row = session.get(spec.model, int(outcome.key))
            if outcome.ok:
                _record_saved(row, outcome.record)
                saved += 1
            elif (holding_the_name or {}).get(outcome.key) is not None:
                _link_by_name(session, spec, row, holding_the_name[outcome.key], result)
            else:
                _record_failure(row, outcome, result, spec.name_of(row))
    return saved


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

"""QuickBooks → database for the name lists (customers, items): full first, incremental after.

- What to read: sync/incremental.py (full, then CDC since the cursor, a paged query by
  LastUpdatedTime when CDC cannot answer); inactive records included.
- Rows are upserted on the QBO Id, so the overlap re-reads are harmless. The cursor moves to the
  instant the pull started, and only after every row is committed.
- QuickBooks wins a conflict (a row edited locally and in QBO since the last sync): the local edit
  is replaced and the conflict is reported for the activity log.
- A QBO record whose name matches a local row that was never pushed links to that row instead of
  creating a second one (names match by their key, db/names.py; only one record to one row).
- An item merged away in QuickBooks (deleted there: CDC's tombstones, or a Merge notification) is
  deactivated here and names the item that replaced it (sync/merged_items.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.mirror_rows import rows_by_qb_id, upsert_by_qb_id
from qb_pipeline.db.models import Item, ItemPrice, SyncState
from qb_pipeline.db.names import name_key
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.entities import NAME_LISTS, SyncedEntity
from qb_pipeline.sync.incremental import OVERLAP, read_changes
from qb_pipeline.sync.merged_items import record_merged_items
from qb_pipeline.sync.pricing import record_item_price

RESTATE_FROM = 1000  # rows pulled


@dataclass
class PullResult:
    entity: str
    mode: str  # "full", "cdc" or "query"
    pulled: int = 0
    new: int = 0
    linked: int = 0  # local unpushed rows matched to their QBO record by name
    conflicts: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # items merged away in QuickBooks, in a person's words

    def summary(self, label: str) -> str:
        return (
            f"Synced {self.new} new {label.lower()} from QuickBooks ({self.mode}, {self.pulled} read)"
            + (f"; {len(self.conflicts)} conflicts kept the QuickBooks version" if self.conflicts else "")
            + "".join(f"; {merge}" for merge in self.merged)
        )

    def as_metadata(self) -> dict[str, int | str]:
        return {
            "pulled": int(self.pulled),
            "new_from_quickbooks": int(self.new),
            "conflicts": len(self.conflicts),
            "merged_away": len(self.merged),
            "pull_mode": self.mode,
        }


def pull_name_list(
    qb: QuickBooksPort,
    engine: sa.Engine,
    entity: str,
    *,
    now: datetime | None = None,
    overlap: timedelta = OVERLAP,
    progress: Callable[[str], None] = lambda _message: None,
) -> PullResult:
    spec = NAME_LISTS[entity]
    started = now or utcnow()
    changes = read_changes(qb, engine, entity, started, overlap=overlap)
    result, pages = PullResult(entity, changes.mode), changes.pages

    for page in pages:
        with session_scope(engine) as session:
            before = result.pulled
            _apply_page(session, spec, page, result, started)
            if _restate_due(before, result.pulled):
                # A first pull grows the table faster than autovacuum re-reads it: with statistics of
                # a nearly empty table, PostgreSQL looked each page's rows up by a scan of all of it.
                queries.refresh_statistics(session, spec.model)
        progress(f"{entity}: {result.pulled} records pulled ({result.mode})")

    with session_scope(engine) as session:
        if spec.model is Item:
            result.merged = record_merged_items(session, changes.deleted_ids, started)
        queries.advance_cursor(session, qb.realm_id, entity, started, full=result.mode == "full")
    return result


def _restate_due(before: int, after: int) -> bool:
    """Whether this pull's row count just passed RESTATE_FROM, twice that, four times… (a few ANALYZEs
    for any size of pull, each while the table is at most twice what its statistics last saw)."""
    mark = RESTATE_FROM
    while mark <= after:
        if before < mark:
            return True
        mark *= 2
    return False


def _apply_page(session: Session, spec: SyncedEntity, records: list[dict], result: PullResult, now: datetime) -> None:
    if not records:
        return
    result.pulled += len(records)
    model = spec.model
    incoming = {row["qb_id"]: row for row in map(spec.to_row, records)}
    stored = {local.qb_id: local for local in rows_by_qb_id(session, model, list(incoming))}
    # The overlap window re-reads records we already hold: an unchanged SyncToken means nothing to
    # write (and a pending local edit of that row must survive to be pushed).
    changed = {
        qb_id: row
        for qb_id, row in incoming.items()
        if qb_id not in stored or stored[qb_id].qb_sync_token != row["qb_sync_token"]
    }
    if not changed:
        return

    # New to us: adopt a never-pushed local row of the same name (by name key) rather than duplicating it,
    # only when the key names that one row here and one new record: between two, a guess could merge
    # different customers. Such rows stay unlinked, and are pushed like any new row.
    new_by_key: dict[str, list[dict]] = defaultdict(list)
    for qb_id, row in changed.items():
        if qb_id not in stored:
            new_by_key[name_key(row[spec.name_column])].append(row)
    # Unlinked rows first (few: rows never pushed), so a full pull's page costs one small query.
    unlinked = queries.rows_by_name_key(session, model, new_by_key, model.qb_id.is_(None)) if new_by_key else {}
    named = queries.rows_by_name_key(session, model, unlinked) if unlinked else {}
    linked = [
        (rows[0], new_by_key[key][0])
        for key, rows in named.items()
        if len(rows) == len(new_by_key[key]) == 1 and rows[0].qb_id is None
    ]
    for local, record in linked:
        local.qb_id = record["qb_id"]
    if linked:
        session.flush()  # before the upsert below finds these rows by their new qb_id
    result.linked += len(linked)
    result.new += sum(map(len, new_by_key.values())) - len(linked)

    # Changed in QBO while edited here and not yet pushed: QuickBooks wins, and says so.
    for qb_id in changed.keys() & stored.keys():
        local = stored[qb_id]
        if local.local_updated_at is not None and (local.synced_at is None or local.local_updated_at > local.synced_at):
            result.conflicts.append(
                f"{spec.name} {spec.name_of(local)!r} was edited here and in QuickBooks; kept the QuickBooks version"
            )

    # The price each item had before this page, and since which version: kept until the change.
    previous_prices = (
        {qb_id: (local.unit_price, local.qb_updated_at) for qb_id, local in stored.items()} if model is Item else {}
    )
    state = {"sync_state": SyncState.SYNCED, "last_error": None, "synced_at": now, "local_updated_at": None}
    upsert_by_qb_id(session, model, [{**row, **state} for row in changed.values()])
    if model is Item:
        _record_item_prices(session, changed, previous_prices, now)


def _record_item_prices(session: Session, changed: dict[str, dict], previous: dict, now: datetime) -> None:
    """Keep each item's QuickBooks price over time, from the instant QuickBooks says it changed. An item
    with no history yet (mirrored before history was kept) keeps the price we held until that change,
    so an order placed before it is not repriced by it."""
    moved = {
        qb_id: row
        for qb_id, row in changed.items()
        if row.get("unit_price") is not None and (qb_id not in previous or previous[qb_id][0] != row["unit_price"])
    }
    if not moved:
        return
    ids = dict(session.execute(sa.select(Item.qb_id, Item.id).where(Item.qb_id.in_(list(moved)))).all())
    with_history = set(session.scalars(sa.select(ItemPrice.item_id).where(ItemPrice.item_id.in_(list(ids.values())))))
    first = []  # a first price needs no interval closed: one insert for a whole full pull
    for qb_id, row in moved.items():
        if ids[qb_id] in with_history:
            continue
        at = row["qb_updated_at"] or now
        held, held_since = previous.get(qb_id, (None, None))
        if held is not None:
            since = held_since if held_since is not None and held_since < at else at - timedelta(microseconds=1)
            first.append(ItemPrice(item_id=ids[qb_id], unit_price=held, valid_from=since, valid_to=at))
        first.append(ItemPrice(item_id=ids[qb_id], unit_price=row["unit_price"], valid_from=at))
    session.add_all(first)
    for qb_id, row in moved.items():
        if ids[qb_id] in with_history:
            record_item_price(session, ids[qb_id], row["unit_price"], at=row["qb_updated_at"] or now)
    session.flush()

"""QuickBooks → database for each entity of the registry (sync/entities.py) but invoices (sync/invoice_mirror.py):
full first, incremental after.

- What to read: sync/incremental.py (full, then CDC since the cursor, a paged query by
  LastUpdatedTime when CDC cannot answer); inactive records included.
- Rows are upserted on the QBO Id, so the overlap re-reads are harmless. The cursor moves to the
  instant the pull started (or, for CDC asked earlier in the run with other entities, when that call
  was sent), and only after every row is committed.
- QuickBooks wins a conflict (a row edited locally and in QBO since the last sync): the local edit
  is replaced and the conflict is reported for the activity log.
- A QBO record whose name matches a local row that was never pushed links to that row instead of
  creating a second one (names match by their key, db/names.py; only one record to one row).
- What an entity needs beyond its rows is its entry's pull hooks: items keep their price history
  (sync/item_prices.py), and one merged away in QuickBooks (deleted there: CDC's tombstones, or a Merge
  notification) is deactivated here and names the item that replaced it (sync/merged_items.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.mirror_rows import rows_by_qb_id, upsert_by_qb_id
from qb_pipeline.db.models import SyncState
from qb_pipeline.db.names import name_key
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.companies import adopt_for
from qb_pipeline.sync.entities import SYNCED, SyncedEntity
from qb_pipeline.sync.incremental import OVERLAP, read_changes

RESTATE_FROM = 1000  # rows pulled


@dataclass
class PullResult:
    entity: str
    mode: str  # "full", "cdc", "query", or "webhooks" (not read: QB_PULL_ON_WEBHOOKS_ONLY)
    pulled: int = 0
    new: int = 0
    linked: int = 0  # local unpushed rows matched to their QBO record by name
    conflicts: list[str] = field(default_factory=list)
    # what the entry's after_pull hook reported, in a person's words (items merged away in QuickBooks)
    merged: list[str] = field(default_factory=list)

    def summary(self, label: str) -> str:
        if self.mode == "webhooks":
            return f"{label} not read (QB_PULL_ON_WEBHOOKS_ONLY: webhooks and the daily catch-up bring changes)"
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
    together_with: Sequence[str] = (),
) -> PullResult:
    """Pull what changed in QuickBooks of `entity` (its name in the registry, sync/entities.py) into its table.
    `together_with`: the entities the run pulls after it, asked in the same CDC call (sync/incremental.py)."""
    spec = SYNCED[entity]
    started = now or utcnow()
    adopt_for(engine, qb.realm_id, progress)  # rows naming no company are this one's if it is the only one
    changes = read_changes(qb, engine, entity, started, overlap=overlap, together_with=together_with)
    result, pages = PullResult(entity, changes.mode), changes.pages

    for page in pages:
        with session_scope(engine) as session:
            before = result.pulled
            _apply_page(session, spec, page, result, started, qb.realm_id)
            if _restate_due(before, result.pulled):
                # A first pull grows the table faster than autovacuum re-reads it: with statistics of
                # a nearly empty table, PostgreSQL looked each page's rows up by a scan of all of it.
                queries.refresh_statistics(session, spec.model)
        progress(f"{entity}: {result.pulled} records pulled ({result.mode})")

    with session_scope(engine) as session:
        result.merged = spec.hooks.after_pull(session, changes.deleted_ids, started, qb.realm_id)
        queries.advance_cursor(session, qb.realm_id, entity, changes.covered_until, full=result.mode == "full")
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


def _apply_page(
    session: Session, spec: SyncedEntity, records: list[dict], result: PullResult, now: datetime, realm_id: str
) -> None:
    if not records:
        return
    result.pulled += len(records)
    incoming = {row["qb_id"]: row for row in _rows(spec, records, realm_id)}
    stored = {local.qb_id: local for local in rows_by_qb_id(session, spec.model, list(incoming), realm_id)}
    # The overlap window re-reads records we already hold: an unchanged SyncToken means nothing to
    # write (and a pending local edit of that row must survive to be pushed).
    changed = {
        qb_id: row
        for qb_id, row in incoming.items()
        if qb_id not in stored or stored[qb_id].qb_sync_token != row["qb_sync_token"]
    }
    if not changed:
        return
    state = {}
    if spec.pushed:  # rows made or edited here too: link new records by name, report conflicts, mark synced
        _link_by_name(session, spec, changed, stored, result, realm_id)
        result.conflicts += _conflicts(spec, changed, stored)
        state = {"sync_state": SyncState.SYNCED, "last_error": None, "synced_at": now, "local_updated_at": None}
    else:
        result.new += len(changed.keys() - stored.keys())
    held = spec.hooks.before_page(stored)
    upsert_by_qb_id(
        session, spec.model, [{**row, **state} for row in changed.values()], conflict_columns=spec.key_columns
    )
    spec.hooks.after_page(session, changed, held, now, realm_id)


def _rows(spec: SyncedEntity, records: list[dict], realm_id: str) -> list[dict]:
    return [spec.to_row(record, realm_id) if spec.per_company else spec.to_row(record) for record in records]


def _link_by_name(
    session: Session, spec: SyncedEntity, changed: dict[str, dict], stored: dict, result: PullResult, realm_id: str
) -> None:
    """New to us: adopt a never-pushed local row of the same name (by name key) rather than duplicating it,
    only when the key names that one row here and one new record: between two, a guess could merge
    different customers. Such rows stay unlinked, and are pushed like any new row."""
    model = spec.model
    new_by_key: dict[str, list[dict]] = defaultdict(list)
    for qb_id, row in changed.items():
        if qb_id not in stored:
            new_by_key[name_key(row[spec.name_column])].append(row)
    # Unlinked rows first (few: rows never pushed), so a full pull's page costs one small query.
    ours = model.realm_id == realm_id  # the company's rows only (unassigned ones were adopted or are left)
    unlinked = queries.rows_by_name_key(session, model, new_by_key, ours, model.qb_id.is_(None)) if new_by_key else {}
    named = queries.rows_by_name_key(session, model, unlinked, ours) if unlinked else {}
    linked = [
        (rows[0], new_by_key[key][0])
        for key, rows in named.items()
        if len(rows) == len(new_by_key[key]) == 1 and rows[0].qb_id is None
    ]
    for local, record in linked:
        local.qb_id = record["qb_id"]
    if linked:
        session.flush()  # before the upsert finds these rows by their new qb_id
    result.linked += len(linked)
    result.new += sum(map(len, new_by_key.values())) - len(linked)


def _conflicts(spec: SyncedEntity, changed: dict[str, dict], stored: dict) -> list[str]:
    """Changed in QBO while edited here and not yet pushed: QuickBooks wins, and says so."""
    edited = [
        stored[qb_id]
        for qb_id in changed.keys() & stored.keys()
        if stored[qb_id].local_updated_at is not None
        and (stored[qb_id].synced_at is None or stored[qb_id].local_updated_at > stored[qb_id].synced_at)
    ]
    return [
        f"{spec.name} {spec.name_of(local)!r} was edited here and in QuickBooks; kept the QuickBooks version"
        for local in edited
    ]

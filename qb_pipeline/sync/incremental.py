"""The one incremental reader: what changed in QuickBooks since a cursor, for any entity we mirror.

- No cursor yet: every record, paged (ORDERBY Id).
- Else CDC since the cursor minus an overlap window (clocks skew, commits land late; rows are upserted
  on their QuickBooks Id, so reading some twice is harmless).
- When CDC cannot answer — a cursor older than its 30-day window, or its 1,000-object cap reached —
  a paged query: by LastUpdatedTime, or of every record when the caller must see deletions (paging by
  update time cannot show a record that is gone).
The caller writes the pages, then moves the cursor to the instant the read started
(db.queries.advance_cursor), once every row is committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.session import session_scope

OVERLAP = timedelta(minutes=5)
CDC_WINDOW = timedelta(days=30) - timedelta(hours=1)  # QBO's limit, with a margin


@dataclass
class Changes:
    mode: str  # "full", "cdc" or "query"
    pages: Iterable[list[dict]]
    deleted_ids: list[str] = field(default_factory=list)  # CDC's deletions (a paged query shows none)
    covered_until: datetime | None = None  # what the caller may mark covered: when the read was asked


def read_changes(
    qb: QuickBooksPort,
    engine: sa.Engine,
    entity: str,
    started: datetime,
    *,
    overlap: timedelta = OVERLAP,
    fallback_reads_everything: bool = False,
    together_with: Sequence[str] = (),
) -> Changes:
    """`together_with`: the other entities this run pulls next; when CDC answers, one call asks for them
    all (each CDC call is a metered read) and their parts wait in the gateway's ChangeFeed."""
    with session_scope(engine) as session:
        cursors = {name: queries.read_cursor(session, qb.realm_id, name) for name in {entity, *together_with}}
    if cursors[entity] is None:
        return Changes("full", qb.query_pages(entity), covered_until=started)
    since = cursors[entity] - overlap
    if started - since < CDC_WINDOW:
        others = {
            name: cursor - overlap
            for name, cursor in cursors.items()
            if name != entity and cursor is not None and started - (cursor - overlap) < CDC_WINDOW
        }
        changes = qb.changes_since(entity, since, together_with=others)
        if not changes.truncated:
            pages = [changes.changed] if changes.changed else []
            return Changes("cdc", pages, changes.deleted_ids, covered_until=min(started, changes.as_of or started))
    if fallback_reads_everything:
        return Changes("query", qb.query_pages(entity), covered_until=started)
    return Changes("query", qb.query_pages(entity, updated_since=since), covered_until=started)

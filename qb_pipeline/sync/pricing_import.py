"""Applying a pricing file (its format and the rules of a row: `sync.pricing_csv`).

An import is four steps, each a module of its own:

1. every row is checked and its names matched (`sync.pricing_rows`);
2. the rows are planned in file order against the history of the keys they touch, read once
   (`sync.pricing_plan`): the same result, and the same reason for each bad row, as applying them one
   at a time;
3. writers of one customer or price level queue on its `pricing_locks` row (`sync.pricing_locks`);
4. the plan is written: here, in the caller's transaction (`import_pricing`); or, for the CLI and the
   drop folder, staged in chunks and swapped in at once (`sync.pricing_stage.import_pricing_file`), so
   a push waits a moment, never the whole import, and the file is applied all or nothing.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime, timezone
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import PriceLevel
from qb_pipeline.sync.companies import company_of
from qb_pipeline.sync.pricing_csv import ImportReport
from qb_pipeline.sync.pricing_locks import plan_locked
from qb_pipeline.sync.pricing_plan import HISTORY, Plan, row_values
from qb_pipeline.sync.pricing_rows import parse_rows, read_names

WRITE_CHUNK = 5000  # rows per executemany


def import_pricing(
    session: Session,
    source: str | io.TextIOBase,
    *,
    strict: bool = False,
    backdate: bool = False,
    now: datetime | None = None,
    realm_id: str | None = None,
) -> ImportReport:
    """Check every row, then apply the good ones (all or nothing when `strict`) in `session`'s transaction,
    to company `realm_id`'s pricing (None: the one connected; sync/companies.py `company_of`)."""
    now = now or datetime.now(timezone.utc)
    text = source if isinstance(source, str) else source.read()
    company = functools.cache(lambda: company_of(session, realm_id))  # asked once the header is right
    parsed = parse_rows(text, now, lambda: read_names(session, company()))
    if isinstance(parsed, ImportReport):
        return parsed
    plan = plan_locked(session, parsed, realm_id=company(), now=now, backdate=backdate, strict=strict)
    write_plan(session, plan)
    return plan.report


def level_ids(session: Session, plan: Plan) -> dict[int, int]:
    """Create the plan's new levels: placeholder id → real id."""
    created = {}
    for level in plan.new_levels:
        row = PriceLevel(realm_id=plan.realm_id, name=level.name, level_type=level.level_type)
        session.add(row)
        session.flush()
        created[level.id] = row.id
    return created


def write_plan(session: Session, plan: Plan) -> None:
    """Write the plan in `session`'s transaction: new ends first, so no two intervals overlap even for an instant."""
    real = level_ids(session, plan)
    for kind in plan.updated:
        updates = plan.updates(kind)
        while chunk := [{"id": row.id, "valid_to": row.valid_to} for row in islice(updates, WRITE_CHUNK)]:
            session.execute(sa.update(HISTORY[kind][0]), chunk)
    for kind in plan.inserted:
        inserts = plan.inserts(kind)
        while chunk := [row_values(key, row, real) for key, row in islice(inserts, WRITE_CHUNK)]:
            session.execute(sa.insert(HISTORY[kind][0]), chunk)

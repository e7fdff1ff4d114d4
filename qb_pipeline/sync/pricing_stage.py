"""A large pricing file without holding up pushes: plan, stage in chunks, then swap in at once.

1. Names and then history are read in two reading transactions (on SQLite they take no write lock);
   rows are checked and planned in between and after, in no transaction at all.
2. The plan's rows go to `pricing_import_rows` in chunks, each committed on its own (COPY on
   PostgreSQL). On SQLite a writer holds the database's one write lock, so a push waits for a chunk,
   not the file, and the import pauses between chunks: SQLite's busy handler retries a waiting writer
   only every 100 ms, and without the pause the import's next chunk would take the lock first.
3. One short transaction takes the file's `pricing_locks` (sorted), and, when none of them changed
   since the history was read, swaps the staged rows in with one statement per history table and
   change: UPDATE … FROM for new ends, then INSERT … SELECT for new intervals. When one did (another
   import of the same customer or level at the same time), the rows are read again and planned in a
   transaction that holds the locks, and written directly: slower, but right.

Until the swap commits nothing of the file is in force; a crash leaves staged rows only, which the
next import clears after a day. Staged rows are deleted after the swap, in chunks on SQLite.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice

import sqlalchemy as sa

from qb_pipeline.db.bulk_rows import insert_rows
from qb_pipeline.db.pricing_imports import PricingImportRow
from qb_pipeline.db.queries import refresh_statistics
from qb_pipeline.db.session import read_scope, session_scope
from qb_pipeline.sync.companies import company_of
from qb_pipeline.sync.pricing_csv import ImportReport
from qb_pipeline.sync.pricing_import import level_ids, write_plan
from qb_pipeline.sync.pricing_locks import lock_keys, plan_locked, read_versions, take_locks
from qb_pipeline.sync.pricing_plan import HISTORY, Plan, make_plan, read_history, read_levels
from qb_pipeline.sync.pricing_rows import parse_rows, read_names

# Rows per transaction: on SQLite each holds the write lock about a tenth of a second (2 cores, 2026).
STAGE_CHUNK = 20_000
CLEAR_CHUNK = 50_000
WRITER_GAP_SECONDS = 0.12  # SQLite: a pause between chunks, longer than its busy handler's 100 ms retry
STALE_AFTER = timedelta(days=1)  # staged rows of an import that died are cleared after this
STAGED = PricingImportRow.__table__
STAGED_COLUMNS = [column.name for column in STAGED.columns if column.name != "id"]


def import_pricing_file(
    engine: sa.Engine,
    text: str,
    *,
    strict: bool = False,
    backdate: bool = False,
    now: datetime | None = None,
    realm_id: str | None = None,
) -> ImportReport:
    """Check every row, then apply the good ones (all or nothing when `strict`), staged and swapped in, to
    company `realm_id`'s pricing (None: the one connected; sync/companies.py `company_of`)."""
    now = now or datetime.now(timezone.utc)
    with session_scope(engine) as session:
        realm_id = company_of(session, realm_id)

    def names():
        with read_scope(engine) as session:
            return read_names(session, realm_id)

    parsed = parse_rows(text, now, names)  # checked outside any transaction
    if isinstance(parsed, ImportReport):
        return parsed
    with read_scope(engine) as session:
        levels = read_levels(session, realm_id)
        keys = lock_keys(parsed, levels, realm_id)
        versions = read_versions(session, keys)  # before the history: a change in between is seen as one
        history = read_history(session, parsed, levels)
    plan = make_plan(parsed, history, levels, now=now, backdate=backdate, strict=strict)
    plan.realm_id = realm_id
    if plan.writes == 0:
        return plan.report
    import_id = uuid.uuid4().hex
    try:
        _stage(engine, import_id, plan, now)
        with session_scope(engine) as session:
            current = take_locks(session, keys, realm_id)
            unchanged = all(current[key] == versions[key] + 1 for key in keys)
            if unchanged and read_levels(session, realm_id).keys() == levels.keys():
                _swap(session, import_id, plan)
                return plan.report
    finally:
        _clear(engine, import_id)
    # Another import changed a key meanwhile: plan again under the locks against the history as it is now.
    del plan, history
    parsed = parse_rows(text, now, names)
    with session_scope(engine) as session:
        plan = plan_locked(session, parsed, realm_id=realm_id, now=now, backdate=backdate, strict=strict)
        write_plan(session, plan)
    return plan.report


def _stage(engine: sa.Engine, import_id: str, plan: Plan, now: datetime) -> None:
    with session_scope(engine) as session:
        session.execute(sa.delete(PricingImportRow).where(PricingImportRow.created_at < now - STALE_AFTER))
    rows = _staged_rows(import_id, plan, now)
    while chunk := list(islice(rows, STAGE_CHUNK)):
        _give_writers_a_turn(engine)
        with session_scope(engine) as session:
            insert_rows(session, STAGED, STAGED_COLUMNS, chunk)
    with session_scope(engine) as session:
        refresh_statistics(session, PricingImportRow)  # PostgreSQL: so the swap joins the staged rows by hash


def _staged_rows(import_id: str, plan: Plan, now: datetime) -> Iterator[list]:
    """The plan as staged rows, a value per name in STAGED_COLUMNS: new ends, then new intervals (a level
    the import creates keeps its placeholder id until the swap)."""
    at = {name: position for position, name in enumerate(STAGED_COLUMNS)}
    for kind in plan.updated:
        mine = _staged_row(at, import_id, kind, now, plan.realm_id)
        for interval in plan.updates(kind):
            row = mine.copy()
            row[at["existing_id"]], row[at["valid_to"]] = interval.id, interval.valid_to
            yield row
    for kind in plan.inserted:
        _model, key_columns, value_columns = HISTORY[kind]
        mine = _staged_row(at, import_id, kind, now, plan.realm_id)
        keys = [at[name] for name in key_columns]
        values = [(at[name], name) for name in (*value_columns, "valid_from", "valid_to")]
        for key, interval in plan.inserts(kind):
            row = mine.copy()
            for position, value in zip(keys, key[1:], strict=True):
                row[position] = value
            for position, name in values:
                row[position] = getattr(interval, name)
            yield row


def _staged_row(at: dict[str, int], import_id: str, kind: str, now: datetime, realm_id: str | None) -> list:
    row = [None] * len(at)
    row[at["import_id"]], row[at["target"]], row[at["created_at"]] = import_id, HISTORY[kind][0].__tablename__, now
    row[at["realm_id"]] = realm_id
    return row


def _give_writers_a_turn(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        time.sleep(WRITER_GAP_SECONDS)


def _swap(session, import_id: str, plan: Plan) -> None:
    """Copy the staged rows into the history: new ends first, then new intervals (never an overlap)."""
    for placeholder, real in level_ids(session, plan).items():
        session.execute(
            sa.update(STAGED)
            .where(STAGED.c.import_id == import_id, STAGED.c.price_level_id == placeholder)
            .values(price_level_id=real)
        )
    for kind in plan.updated:
        table = HISTORY[kind][0].__table__
        session.execute(
            sa.update(table)
            .values(valid_to=STAGED.c.valid_to)
            .where(STAGED.c.import_id == import_id, STAGED.c.target == table.name, STAGED.c.existing_id == table.c.id)
        )
    for kind in plan.inserted:
        model, key_columns, value_columns = HISTORY[kind]
        table = model.__table__
        columns = [*key_columns, *value_columns, "valid_from", "valid_to", "created_at"]
        session.execute(
            sa.insert(table).from_select(
                columns,
                sa.select(*(STAGED.c[name] for name in columns)).where(
                    STAGED.c.import_id == import_id,
                    STAGED.c.target == table.name,
                    STAGED.c.existing_id.is_(None),
                ),
            )
        )


def _clear(engine: sa.Engine, import_id: str) -> None:
    """Delete the import's staged rows; on SQLite a chunk at a time, writers getting their turn between."""
    mine = sa.select(STAGED.c.id).where(STAGED.c.import_id == import_id)
    chunk = CLEAR_CHUNK if engine.dialect.name == "sqlite" else None
    while True:
        with session_scope(engine) as session:
            if session.execute(sa.delete(STAGED).where(STAGED.c.id.in_(mine.limit(chunk)))).rowcount == 0:
                return
        _give_writers_a_turn(engine)

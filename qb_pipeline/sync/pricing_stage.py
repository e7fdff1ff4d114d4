"""A large pricing file without holding up pushes: plan, stage in chunks, then swap in at once.

1. Names and then history are read in two short transactions; rows are checked and planned in between
   and after, in no transaction at all (`sync.pricing_import`).
2. The plan's rows go to `pricing_import_rows` in chunks of `STAGE_CHUNK`, each committed on its own:
   on SQLite a writer holds the database's one write lock, so a push waits for a chunk, not the file.
3. One short transaction takes the file's `pricing_locks` (sorted), and, when none of them changed
   since the history was read, copies the staged rows into the history with two statements. When one
   did (another import of the same customer or level at the same time), the plan is made again under
   the locks and written directly: slower, but right.

Until the swap commits nothing of the file is in force; a crash leaves staged rows only, which the
next import clears after a day. Staged rows are deleted in chunks after the swap.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from qb_pipeline.db.pricing_imports import PricingImportRow
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync import pricing_import
from qb_pipeline.sync.pricing_csv import ImportReport
from qb_pipeline.sync.pricing_import import HISTORY, Plan, lock_keys, read_levels

STAGE_CHUNK = 5000  # rows per staging transaction: a few tens of milliseconds of write lock
STALE_AFTER = timedelta(days=1)  # staged rows of an import that died are cleared after this
STAGED = PricingImportRow.__table__


def import_pricing_file(
    engine: sa.Engine,
    text: str,
    *,
    strict: bool = False,
    backdate: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Check every row, then apply the good ones (all or nothing when `strict`), staged and swapped in."""
    now = now or datetime.now(timezone.utc)

    def names():
        with session_scope(engine) as session:
            return pricing_import.read_names(session)

    parsed = pricing_import.parse_rows(text, now, names)  # checked outside any transaction
    if isinstance(parsed, ImportReport):
        return parsed
    with session_scope(engine) as session:
        levels = read_levels(session)
        keys = lock_keys(parsed, levels)
        versions = pricing_import.read_versions(session, keys)
        history = pricing_import.read_history(session, parsed, levels)
    plan = pricing_import.make_plan(parsed, history, levels, now=now, backdate=backdate, strict=strict)
    del history
    if plan.writes == 0:
        return plan.report
    import_id = uuid.uuid4().hex
    try:
        _stage(engine, import_id, plan, now)
        with session_scope(engine) as session:
            current = pricing_import.take_locks(session, keys)
            if any(current[key] != versions[key] + 1 for key in keys) or read_levels(session).keys() != levels.keys():
                plan = pricing_import.plan_locked(session, parsed, now=now, backdate=backdate, strict=strict)
                pricing_import.write_plan(session, plan)
            else:
                _swap(session, import_id, plan)
    finally:
        _clear(engine, import_id)
    return plan.report


def _stage(engine: sa.Engine, import_id: str, plan: Plan, now: datetime) -> None:
    with session_scope(engine) as session:
        session.execute(sa.delete(PricingImportRow).where(PricingImportRow.created_at < now - STALE_AFTER))

    def staged():
        for kind, updates in plan.updates.items():
            table = HISTORY[kind][0].__tablename__
            for id_, valid_to in updates:
                yield {
                    "import_id": import_id,
                    "target": table,
                    "existing_id": id_,
                    "valid_to": valid_to,
                    "created_at": now,
                }
        for kind, rows in plan.inserts.items():
            table = HISTORY[kind][0].__tablename__
            for key, row in rows:
                values = pricing_import.row_values(kind, key, row, {})
                yield {"import_id": import_id, "target": table, "existing_id": None, "created_at": now, **values}

    chunk: list[dict] = []
    for values in staged():
        chunk.append(values)
        if len(chunk) == STAGE_CHUNK:
            _insert(engine, chunk)
            chunk = []
    if chunk:
        _insert(engine, chunk)


def _insert(engine: sa.Engine, rows: list[dict]) -> None:
    """One chunk in its own transaction, as one executemany (every row with every column)."""
    columns = [column.name for column in STAGED.columns if column.name != "id"]
    with session_scope(engine) as session:
        session.execute(sa.insert(STAGED), [{name: row.get(name) for name in columns} for row in rows])


def _swap(session, import_id: str, plan: Plan) -> None:
    """Copy the staged rows into the history: new ends first, then new intervals (never an overlap)."""
    staged = PricingImportRow.__table__
    for placeholder, real in pricing_import.level_ids(session, plan).items():
        session.execute(
            sa.update(staged)
            .where(staged.c.import_id == import_id, staged.c.price_level_id == placeholder)
            .values(price_level_id=real)
        )
    for kind in plan.updates:
        table = HISTORY[kind][0].__table__
        mine = sa.and_(staged.c.import_id == import_id, staged.c.target == table.name)
        new_end = sa.select(staged.c.valid_to).where(mine, staged.c.existing_id == table.c.id).scalar_subquery()
        ended = sa.select(staged.c.existing_id).where(mine, staged.c.existing_id.is_not(None))
        session.execute(sa.update(table).where(table.c.id.in_(ended)).values(valid_to=new_end))
    for kind in plan.inserts:
        model, key_columns, value_columns = HISTORY[kind]
        table = model.__table__
        columns = [*key_columns, *value_columns, "valid_from", "valid_to", "created_at"]
        session.execute(
            sa.insert(table).from_select(
                columns,
                sa.select(*(staged.c[name] for name in columns)).where(
                    staged.c.import_id == import_id,
                    staged.c.target == table.name,
                    staged.c.existing_id.is_(None),
                ),
            )
        )


def _clear(engine: sa.Engine, import_id: str) -> None:
    staged = PricingImportRow.__table__
    while True:
        with session_scope(engine) as session:
            ids = sa.select(staged.c.id).where(staged.c.import_id == import_id).limit(STAGE_CHUNK)
            if session.execute(sa.delete(staged).where(staged.c.id.in_(ids))).rowcount == 0:
                return

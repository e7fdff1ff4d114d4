"""Rows mirrored from QuickBooks, by their QuickBooks Id: a page's bulk upsert and lookup, written once
and correct (and fast) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qb_pipeline.db.models import NAME_COLUMNS, Base
from qb_pipeline.db.names import name_key
from qb_pipeline.db.types import utcnow


def mirror_key(model: type[Base]) -> tuple[str, ...]:
    """What identifies a mirrored row: its QuickBooks Id within its company (for a table kept per company)."""
    return ("realm_id", "qb_id") if "realm_id" in model.__table__.c else ("qb_id",)


def upsert_by_qb_id(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    *,
    update_columns: Iterable[str] | None = None,
    conflict_columns: Sequence[str] | None = None,
) -> int:
    """Insert rows, or update the existing row with the same QuickBooks Id (in the same company, for a table
    kept per company: the default `conflict_columns`). Returns rows written.

    Every row must carry the same keys. Only `update_columns` (default: every given column but the
    conflict key) are overwritten on conflict, so local-only columns survive a pull.
    """
    if not rows:
        return 0
    conflict_columns = conflict_columns or mirror_key(model)
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"upsert is not implemented for the {dialect} dialect")
    name_column = NAME_COLUMNS.get(model)
    if name_column in rows[0]:
        # This path bypasses the ORM events that keep the key: each row's key goes with its name, into
        # the insert and into the update (a rename in QuickBooks moves the key too).
        rows = [{**row, "name_key": name_key(row[name_column])} for row in rows]
    keys = list(rows[0])
    to_update = [c for c in (update_columns or keys) if c not in conflict_columns]
    if name_column in to_update and "name_key" not in to_update:
        to_update.append("name_key")
    table = model.__table__
    if "updated_at" in table.c and "updated_at" not in to_update:
        to_update.append("updated_at")
    now = utcnow()
    if "updated_at" in table.c:
        rows = [{**row, "updated_at": now} for row in rows]
    if "created_at" in table.c:
        rows = [{"created_at": now, **row} for row in rows]
    if dialect == "postgresql":
        # Last row of a key wins, as one row at a time would (ON CONFLICT cannot touch a row twice).
        rows = list({tuple(row[c] for c in conflict_columns): row for row in rows}.values())
        source = _unnested(session, table, rows, list(rows[0]), conflict_columns)
        statement = insert(table).from_select(list(rows[0]), source)
    else:
        statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={c: statement.excluded[c] for c in to_update},
    )
    if dialect == "postgresql":
        session.execute(statement)
    else:
        # executemany form: one compiled (cached) statement, rows sent in batches by the driver layer.
        # (A multi-row VALUES statement is compiled anew for every chunk: 80 % of a full pull's time.)
        session.execute(statement, list(rows))
    return len(rows)


def rows_by_qb_id(session: Session, model: type[Base], qb_ids: Sequence[str], realm_id: str) -> list:
    """The rows of `model` holding these QuickBooks Ids in company `realm_id` (a pull's page: up to 1,000).

    PostgreSQL gets the Ids as one array joined on the unique index; as `qb_id IN (…1,000 values)` its
    planner (random_page_cost 4) chose a sequential scan of the whole table for every page of a full
    pull once it held some 50,000 rows."""
    if not qb_ids:
        return []
    # A table kept for one company only (a test's own model) has no company to filter by.
    of_company = model.realm_id == realm_id if "realm_id" in model.__table__.c else sa.true()
    if session.get_bind().dialect.name != "postgresql":
        return list(session.scalars(sa.select(model).where(of_company, model.qb_id.in_(list(qb_ids)))))
    wanted = (
        sa.func.unnest(sa.bindparam("qb_ids", list(qb_ids), type_=postgresql.ARRAY(sa.Text)))
        .table_valued("qb_id")
        .render_derived(name="wanted")
    )
    return list(session.scalars(sa.select(model).join(wanted, model.qb_id == wanted.c.qb_id).where(of_company)))


def _unnested(
    session: Session, table: sa.Table, rows: list[dict[str, Any]], keys: list[str], conflict_columns: Sequence[str]
) -> sa.Select:
    """The rows as `SELECT … FROM unnest(array, array, …)`: one array per column, so PostgreSQL parses a
    page as a few arrays rather than thousands of VALUES literals (psycopg2 otherwise sends an upsert's
    rows one round trip each). Values go through the column types' own bind processing first. A column
    holding one value in every row (a pull's sync state and timestamps) goes once, not a thousand times."""
    dialect = session.get_bind().dialect
    arrays, constants = {}, {}
    for key in keys:
        process = table.c[key].type._cached_bind_processor(dialect)
        values = [row[key] for row in rows]
        values = [process(v) for v in values] if process else values
        first = values[0]
        if key not in conflict_columns and all(v is first or v == first for v in values):
            constants[key] = None if first is None else str(first)
            continue
        # One text[] literal per column (adapting a thousand values one by one costs more than the
        # insert), cast back to the column's type below.
        arrays[key] = sa.cast(sa.bindparam(f"column_{key}", _text_array(values)), postgresql.ARRAY(sa.Text))
    unnested = sa.func.unnest(*arrays.values()).table_valued(*arrays).render_derived()
    return sa.select(
        *(
            sa.cast(
                unnested.c[key] if key in arrays else sa.bindparam(f"column_{key}", constants[key], type_=sa.Text),
                table.c[key].type,
            ).label(key)
            for key in keys
        )
    )


def _text_array(values: list) -> str:
    """A PostgreSQL array literal of the values' text (NULL for None), quoted and escaped."""
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
        )
        + "}"
    )

"""Names are matched by a stored key (db/names.py: Unicode case folding and normalization), not by lower().

Adds `name_key` to customers, items and price_levels, fills it for the rows already there (in Python, in
batches: neither database can compute it), and indexes it (unique for price levels, which are found by
it). Two price levels whose names share a key stop the upgrade before anything changes: a person renames
one. The key is computed by today's `name_key`; a later change to the key needs its own migration.

Revision ID: 0007
Revises: 0006
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qb_pipeline.db.names import name_key

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = {"customers": "display_name", "items": "name", "price_levels": "name"}
BATCH = 1000  # rows read and updated at a time


def upgrade() -> None:
    _refuse_clashing_price_levels()
    for table in TABLES:
        op.add_column(table, sa.Column("name_key", sa.Text(), nullable=True))
    for table, column in TABLES.items():
        _backfill(table, column)
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_name_key"), table, ["name_key"], unique=table == "price_levels")


def _refuse_clashing_price_levels() -> None:
    by_key: dict[str, list[str]] = {}
    for (name,) in op.get_bind().execute(sa.text("SELECT name FROM price_levels")):
        by_key.setdefault(name_key(name), []).append(name)
    clashes = [" and ".join(map(repr, sorted(names))) for names in by_key.values() if len(names) > 1]
    if clashes:
        raise RuntimeError(
            "price levels are now matched ignoring case and Unicode form, and these are one name each: "
            + "; ".join(clashes)
            + ". Rename one of each (UPDATE price_levels SET name = ... WHERE name = ...), then upgrade again."
        )


def _backfill(table: str, column: str) -> None:
    bind = op.get_bind()
    read = sa.text(f"SELECT id, {column} FROM {table} WHERE id > :after ORDER BY id LIMIT {BATCH}")
    write = sa.text(f"UPDATE {table} SET name_key = :key WHERE id = :id")
    after = 0
    while rows := bind.execute(read, {"after": after}).all():
        bind.execute(write, [{"id": row_id, "key": name_key(name)} for row_id, name in rows])
        after = rows[-1][0]


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_name_key"), table_name=table)
        op.drop_column(table, "name_key")

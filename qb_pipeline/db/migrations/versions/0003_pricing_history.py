"""Pricing history that cannot be rewritten; item prices over time; the total each order was invoiced at.

- A CHECK on every validity table: no empty or inverted interval. Rows of an empty or inverted interval
  from before (an earlier bug left zero-length intervals) were never in force and are removed.
- On PostgreSQL, an exclusion constraint per validity table: two intervals of one key never overlap.
  It needs the btree_gist extension; where it cannot be created (no privilege) or existing rows
  overlap, the constraint is left out with a warning and the application's own check still holds.
- `item_prices`: an item's QuickBooks price over time, filled by every pull.
- `orders.invoiced_total`.

Revision ID: 0003
Revises: 0002
"""

import warnings
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INTERVAL_CHECK = "valid_to IS NULL OR valid_to > valid_from"
# table → the columns that name one key (one price, one assignment…)
KEYS = {
    "price_level_percentages": ["price_level_id"],
    "price_level_items": ["price_level_id", "item_id"],
    "customer_price_levels": ["customer_id"],
    "customer_item_prices": ["customer_id", "item_id"],
    "item_prices": ["item_id"],
}


def upgrade() -> None:
    op.create_table(
        "item_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(INTERVAL_CHECK, name=op.f("ck_item_prices_interval")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_item_prices_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_prices")),
    )
    with op.batch_alter_table("item_prices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_prices_item_id"), ["item_id"], unique=False)
    for table in KEYS:
        if table == "item_prices":
            continue
        op.execute(sa.text(f"DELETE FROM {table} WHERE valid_to IS NOT NULL AND valid_to <= valid_from"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(batch_op.f(f"ck_{table}_interval"), INTERVAL_CHECK)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoiced_total", sa.Numeric(precision=14, scale=2), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _exclusion_constraints()


def _exclusion_constraints() -> None:
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
    except sa.exc.DBAPIError as error:
        warnings.warn(
            f"btree_gist is not available ({error.orig}); pricing intervals are checked by the application only",
            stacklevel=1,  # the warning is about this migration, not its caller
        )
        return
    for table, columns in KEYS.items():
        equal = ", ".join(f"{column} WITH =" for column in columns)
        try:
            with bind.begin_nested():
                bind.execute(
                    sa.text(
                        f"ALTER TABLE {table} ADD CONSTRAINT ex_{table}_no_overlap EXCLUDE USING gist "
                        f"({equal}, tstzrange(valid_from, valid_to, '[)') WITH &&)"
                    )
                )
        except sa.exc.DBAPIError as error:
            warnings.warn(
                f"{table}: intervals overlap already ({error.orig}); fix them, then add the constraint", stacklevel=1
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in KEYS:
            op.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ex_{table}_no_overlap"))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("invoiced_total")
    for table in KEYS:
        if table == "item_prices":
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"ck_{table}_interval"), type_="check")
    op.drop_table("item_prices")

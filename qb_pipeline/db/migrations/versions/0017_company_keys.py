"""Every row keyed by company: `realm_id` on customers, items, orders, invoice batches, the activity log,
price levels and the pricing import's tables; the unique keys that held for one company hold per company.

Existing rows get the connected company when `qb_tokens` holds exactly one; otherwise (none yet, or several)
they stay NULL, "not assigned yet", and the first run of a company that is the only one connected adopts
them (sync/companies.py).

- customers, items: (realm_id, qb_id) unique instead of qb_id.
- orders: (realm_id, order_number) and (realm_id, qb_invoice_id) unique; an unassigned order's number stays
  unique among unassigned orders (a partial unique index: NULLs never clash in a unique key).
- price_levels: (realm_id, name) and (realm_id, name_key) unique; the name_key index is a plain one now, and
  unassigned levels' keys stay unique among themselves (a partial unique index).

Revision ID: 0017
Revises: 0016
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: Union[str, Sequence[str], None] = "0016"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = (
    "customers",
    "items",
    "orders",
    "invoice_batches",
    "sync_log",
    "price_levels",
    "pricing_import_rows",
    "pricing_locks",
)
UNASSIGNED = sa.text("realm_id IS NULL")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("realm_id", sa.String(32), nullable=True))
    realms = [row[0] for row in op.get_bind().execute(sa.text("SELECT realm_id FROM qb_tokens"))]
    if len(realms) == 1:
        for table in TABLES:
            op.get_bind().execute(sa.text(f"UPDATE {table} SET realm_id = :realm"), {"realm": realms[0]})
    for table in ("customers", "items"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_qb_id", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_realm_qb_id", ["realm_id", "qb_id"])
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_orders_order_number", type_="unique")
        batch_op.drop_constraint("uq_orders_qb_invoice_id", type_="unique")
        batch_op.create_unique_constraint("uq_orders_realm_order_number", ["realm_id", "order_number"])
        batch_op.create_unique_constraint("uq_orders_realm_qb_invoice_id", ["realm_id", "qb_invoice_id"])
    op.create_index(
        "uq_orders_unassigned_order_number",
        "orders",
        ["order_number"],
        unique=True,
        sqlite_where=UNASSIGNED,
        postgresql_where=UNASSIGNED,
    )
    op.drop_index("ix_price_levels_name_key", table_name="price_levels")
    with op.batch_alter_table("price_levels", schema=None) as batch_op:
        batch_op.drop_constraint("uq_price_levels_name", type_="unique")
        batch_op.create_unique_constraint("uq_price_levels_realm_name", ["realm_id", "name"])
        batch_op.create_unique_constraint("uq_price_levels_realm_name_key", ["realm_id", "name_key"])
    op.create_index("ix_price_levels_name_key", "price_levels", ["name_key"], unique=False)
    op.create_index(
        "uq_price_levels_unassigned_name_key",
        "price_levels",
        ["name_key"],
        unique=True,
        sqlite_where=UNASSIGNED,
        postgresql_where=UNASSIGNED,
    )


def downgrade() -> None:
    op.drop_index("uq_price_levels_unassigned_name_key", table_name="price_levels")
    op.drop_index("ix_price_levels_name_key", table_name="price_levels")
    with op.batch_alter_table("price_levels", schema=None) as batch_op:
        batch_op.drop_constraint("uq_price_levels_realm_name_key", type_="unique")
        batch_op.drop_constraint("uq_price_levels_realm_name", type_="unique")
        batch_op.create_unique_constraint("uq_price_levels_name", ["name"])
    op.create_index("ix_price_levels_name_key", "price_levels", ["name_key"], unique=True)
    op.drop_index("uq_orders_unassigned_order_number", table_name="orders")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_orders_realm_qb_invoice_id", type_="unique")
        batch_op.drop_constraint("uq_orders_realm_order_number", type_="unique")
        batch_op.create_unique_constraint("uq_orders_qb_invoice_id", ["qb_invoice_id"])
        batch_op.create_unique_constraint("uq_orders_order_number", ["order_number"])
    for table in ("customers", "items"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_realm_qb_id", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_qb_id", ["qb_id"])
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("realm_id")

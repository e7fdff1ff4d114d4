"""Unit prices keep QuickBooks' seven decimal places; amounts stay in cents.

Widens the unit-price columns from NUMERIC(14, 2) to NUMERIC(18, 7) (items, item price history, customer
prices, price-level prices) and an order line's raw price from NUMERIC(18, 6) to NUMERIC(22, 10), keeping
every value. PostgreSQL rounded item prices mirrored from QuickBooks to the cent before this (0.125 was
kept as 0.13), so the items' pull cursor is dropped: the next items pull reads every item again and
brings their prices back at QuickBooks' precision.

Revision ID: 0009
Revises: 0008
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CENTS, UNIT_PRICE = sa.Numeric(14, 2), sa.Numeric(18, 7)
RAW_BEFORE, RAW_AFTER = sa.Numeric(18, 6), sa.Numeric(22, 10)
COLUMNS = [  # (table, column, nullable, type before, type after)
    ("items", "unit_price", True, CENTS, UNIT_PRICE),
    ("item_prices", "unit_price", False, CENTS, UNIT_PRICE),
    ("customer_item_prices", "unit_price", False, CENTS, UNIT_PRICE),
    ("price_level_items", "custom_price", True, CENTS, UNIT_PRICE),
    ("order_lines", "unit_price", True, RAW_BEFORE, RAW_AFTER),
]


def _alter(to_wider: bool) -> None:
    for table, column, nullable, before, after in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:  # SQLite copies the table, rows included
            batch_op.alter_column(
                column,
                existing_type=before if to_wider else after,
                type_=after if to_wider else before,
                existing_nullable=nullable,
            )


def upgrade() -> None:
    _alter(to_wider=True)
    op.execute("DELETE FROM sync_cursors WHERE entity = 'Item'")


def downgrade() -> None:
    _alter(to_wider=False)  # PostgreSQL rounds the prices back to the cent

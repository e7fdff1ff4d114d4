"""Pricing imports: staged rows (a file is staged in chunks, then swapped in at once) and per-key locks.

Revision ID: 0012
Revises: 0008
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "pricing_import_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("existing_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("price_level_id", sa.Integer(), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=7), nullable=True),
        sa.Column("percent", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("custom_price", sa.Numeric(precision=18, scale=7), nullable=True),
        sa.Column("custom_percent", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_import_rows")),
    )
    op.create_index(
        "ix_pricing_import_rows_import", "pricing_import_rows", ["import_id", "target", "existing_id"], unique=False
    )
    op.create_table(
        "pricing_locks",
        sa.Column("lock_key", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lock_key", name=op.f("pk_pricing_locks")),
    )


def downgrade() -> None:
    op.drop_table("pricing_locks")
    op.drop_index("ix_pricing_import_rows_import", table_name="pricing_import_rows")
    op.drop_table("pricing_import_rows")

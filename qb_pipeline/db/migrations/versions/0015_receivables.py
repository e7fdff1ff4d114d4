"""Receivables mirrored: QuickBooks payments, what their lines apply to which invoice or credit memo, and
credit memos (issue #28).

Revision ID: 0015
Revises: 0014
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: Union[str, Sequence[str], None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MONEY = sa.Numeric(14, 2)


def _mirrored_columns() -> list[sa.Column]:
    """The columns payments and credit memos share (db/receivables.py `_Mirrored`)."""
    return [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("realm_id", sa.String(32), nullable=False),
        sa.Column("qb_id", sa.String(32), nullable=False),
        sa.Column("customer_qb_id", sa.String(32), nullable=True),
        sa.Column("txn_date", sa.String(10), nullable=True),
        sa.Column("total_amt", MONEY, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("set_apart", sa.Text(), nullable=True),
        sa.Column("qb_sync_token", sa.String(32), nullable=True),
        sa.Column("qb_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mirrored_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "qb_payments",
        *_mirrored_columns(),
        sa.Column("unapplied_amt", MONEY, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_qb_payments"),
        sa.UniqueConstraint("realm_id", "qb_id", name="uq_qb_payments_realm_qb_id"),
    )
    op.create_index("ix_qb_payments_customer_qb_id", "qb_payments", ["customer_qb_id"])
    op.create_table(
        "qb_payment_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("realm_id", sa.String(32), nullable=False),
        sa.Column("payment_qb_id", sa.String(32), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("linked_qb_id", sa.String(32), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_qb_payment_lines"),
    )
    op.create_index("ix_qb_payment_lines_payment_qb_id", "qb_payment_lines", ["payment_qb_id"])
    op.create_index("ix_qb_payment_lines_realm_linked", "qb_payment_lines", ["realm_id", "kind", "linked_qb_id"])
    op.create_table(
        "qb_credit_memos",
        *_mirrored_columns(),
        sa.Column("doc_number", sa.String(21), nullable=True),
        sa.Column("remaining_credit", MONEY, nullable=True),
        sa.Column("balance", MONEY, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_qb_credit_memos"),
        sa.UniqueConstraint("realm_id", "qb_id", name="uq_qb_credit_memos_realm_qb_id"),
    )
    op.create_index("ix_qb_credit_memos_customer_qb_id", "qb_credit_memos", ["customer_qb_id"])


def downgrade() -> None:
    op.drop_table("qb_credit_memos")
    op.drop_table("qb_payment_lines")
    op.drop_table("qb_payments")

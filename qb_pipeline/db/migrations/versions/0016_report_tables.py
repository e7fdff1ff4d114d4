"""Receivables reports: the invoice mirror keeps each invoice's due date (A/R aging ages from it), and the
report tables `ar_aging` and `sales_by_customer_month` the report assets write.

Invoices mirrored before this revision have no due date: the invoice cursor is dropped so that the next
invoices run reads every invoice again.

Revision ID: 0016
Revises: 0015
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: Union[str, Sequence[str], None] = "0015"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    with op.batch_alter_table("qb_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.String(length=10), nullable=True))
    op.execute("DELETE FROM sync_cursors WHERE entity = 'Invoice'")
    op.create_table(
        "ar_aging",
        sa.Column("realm_id", sa.String(32), primary_key=True),
        sa.Column("customer_qb_id", sa.String(32), primary_key=True),
        sa.Column("customer_name", sa.String(500), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        *(sa.Column(bucket, MONEY, nullable=False) for bucket in _BUCKETS),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sales_by_customer_month",
        sa.Column("realm_id", sa.String(32), primary_key=True),
        sa.Column("customer_qb_id", sa.String(32), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("customer_name", sa.String(500), nullable=False),
        sa.Column("sales", MONEY, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )


_BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_and_over")


def downgrade() -> None:
    op.drop_table("sales_by_customer_month")
    op.drop_table("ar_aging")
    with op.batch_alter_table("qb_invoices", schema=None) as batch_op:
        batch_op.drop_column("due_date")

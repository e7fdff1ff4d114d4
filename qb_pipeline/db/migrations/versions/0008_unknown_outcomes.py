"""Orders remember when a send of their invoice went unanswered, and under which company preferences.

An order whose batch has no answer yet (`invoice_batch_id` set) is dated by its write-ahead record, so
an upgrade in the middle of an unknown outcome still waits out QuickBooks' request limit.

Revision ID: 0008
Revises: 0007
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_unknown_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sent_preferences_version", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE orders SET outcome_unknown_at = (SELECT invoice_batches.created_at FROM invoice_batches "
        "WHERE invoice_batches.id = orders.invoice_batch_id) WHERE invoice_batch_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("sent_preferences_version")
        batch_op.drop_column("outcome_unknown_at")

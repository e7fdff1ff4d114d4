"""QuickBooks calls per company per day by kind (reads are metered by Intuit), and the company's invoice
numbering preference as last read (so the hourly connection check need not read it again).

Revision ID: 0014
Revises: 0013
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "qb_api_calls",
        sa.Column("realm_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("calls", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("qb_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keeps_invoice_numbers", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("preferences_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qb_tokens", schema=None) as batch_op:
        batch_op.drop_column("preferences_read_at")
        batch_op.drop_column("keeps_invoice_numbers")
    op.drop_table("qb_api_calls")

"""The invoice mirror keeps which order an invoice's marker names and when QuickBooks created it.

`pricing learned` learns only from invoices we did not make (no marker) and prices them at their own
time. Invoices mirrored before this revision are marked from the orders linked to them, and the invoice
cursor is dropped so that the next invoices run reads every invoice again (its marker and CreateTime).

Revision ID: 0011
Revises: 0008
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("qb_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marked_order", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("qb_created_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE qb_invoices SET marked_order = (SELECT orders.order_number FROM orders "
        "WHERE orders.qb_invoice_id = qb_invoices.qb_id) "
        "WHERE EXISTS (SELECT 1 FROM orders WHERE orders.qb_invoice_id = qb_invoices.qb_id)"
    )
    op.execute("DELETE FROM sync_cursors WHERE entity = 'Invoice'")


def downgrade() -> None:
    with op.batch_alter_table("qb_invoices", schema=None) as batch_op:
        batch_op.drop_column("qb_created_at")
        batch_op.drop_column("marked_order")

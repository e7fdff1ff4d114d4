"""Write-ahead invoice batches, and one order per invoice.

- `invoice_batches`: a batch of invoices recorded (orders, body, requestid) before it is sent.
- `orders.invoice_batch_id`: the batch whose outcome for the order is not known yet.
- `orders.qb_invoice_id` unique. A database from before may hold two orders linked to one invoice
  (the bug this constraint closes): the later order is unlinked and failed with a reason naming both,
  so a person decides; nothing is deleted.

Revision ID: 0002
Revises: 0001
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "invoice_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_batches")),
        sa.UniqueConstraint("request_id", name=op.f("uq_invoice_batches_request_id")),
    )
    _unlink_shared_invoices()
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_orders_invoice_batch_id"), ["invoice_batch_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_invoice_batch_id_invoice_batches"), "invoice_batches", ["invoice_batch_id"], ["id"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_orders_qb_invoice_id"), ["qb_invoice_id"])


def _unlink_shared_invoices() -> None:
    bind = op.get_bind()
    shared = bind.execute(
        sa.text(
            "SELECT qb_invoice_id, MIN(id) FROM orders WHERE qb_invoice_id IS NOT NULL "
            "GROUP BY qb_invoice_id HAVING COUNT(*) > 1"
        )
    ).all()
    for invoice_id, keeper in shared:
        number = bind.execute(sa.text("SELECT order_number FROM orders WHERE id = :id"), {"id": keeper}).scalar()
        bind.execute(
            sa.text(
                "UPDATE orders SET qb_invoice_id = NULL, status = 'failed', next_attempt_at = NULL, "
                "status_reason = :reason WHERE qb_invoice_id = :invoice AND id <> :keeper"
            ),
            {
                "invoice": invoice_id,
                "keeper": keeper,
                "reason": f"was linked to QuickBooks invoice {invoice_id}, which belongs to order {number}: "
                "check QuickBooks, then retry this order or cancel it",
            },
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_orders_qb_invoice_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_orders_invoice_batch_id_invoice_batches"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_orders_invoice_batch_id"))
        batch_op.drop_column("invoice_batch_id")
    op.drop_table("invoice_batches")

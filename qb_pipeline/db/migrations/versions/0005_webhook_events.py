"""QuickBooks change notifications (webhooks), stored as they arrive.

Revision ID: 0005
Revises: 0004
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "qb_webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qb_webhook_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_qb_webhook_events_event_key")),
    )
    with op.batch_alter_table("qb_webhook_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qb_webhook_events_processed_at"), ["processed_at"], unique=False)


def downgrade() -> None:
    op.drop_table("qb_webhook_events")

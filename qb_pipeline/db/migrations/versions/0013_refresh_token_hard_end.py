"""The refresh token's hard end beside it (Intuit: five years from consent, told by the token answer).

Revision ID: 0013
Revises: 0012
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("qb_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_hard_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qb_tokens", schema=None) as batch_op:
        batch_op.drop_column("refresh_hard_expires_at")

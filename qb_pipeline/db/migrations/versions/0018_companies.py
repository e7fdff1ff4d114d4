"""The companies this deployment knows (`qb-pipeline companies`): one row per QuickBooks company, named by the
user. A database connected before keeps its company: one row per stored token, named by its realm id.

Revision ID: 0018
Revises: 0017
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: Union[str, Sequence[str], None] = "0017"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("realm_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("environment", sa.String(32), nullable=True),
    )
    # The token row is the connection: its company was connected when the row was first written, which
    # only updated_at tells now (an approximation: a refresh moves it). The environment is not stored in
    # the database and may have changed since: left unknown.
    op.execute(
        "INSERT INTO companies (realm_id, name, connected_at) SELECT realm_id, realm_id, updated_at FROM qb_tokens"
    )


def downgrade() -> None:
    op.drop_table("companies")

"""Item price history for the items that had none; items merged away in QuickBooks.

- Backfill: 0003 created `item_prices` empty, and an item gets its first row only when a pull sees its
  price change, so an item unchanged since had no history: a later change in QuickBooks then repriced
  every order placed before it. Each item with a price and no history gets one open row: the price the
  mirror holds, valid from QuickBooks' LastUpdatedTime of the version that carried it (`qb_updated_at`:
  the price cannot be older than that version; a pull dates every later price the same way), or from
  when the row was created here for an item never pulled. An order placed before that start is priced
  with the earliest price history knows (sync/price_book.py), never with a later one. Items that already
  have history are left as they are. The downgrade keeps these rows: they are true history, and 0008's
  code reads them as its own.
- `items.merged_away_at` / `items.merged_into_qb_id`: when a pull saw the item deleted in QuickBooks
  (merged into another: items cannot be deleted otherwise) and, when a Merge notification named it,
  the QuickBooks Id of the item that replaced it.
- `qb_webhook_events.merged_away_id`: a Merge notification's `deletedid` (the merged-away record).

Revision ID: 0010
Revises: 0008
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qb_pipeline.db.types import MONEY, UTCDateTime, utcnow

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("unit_price", MONEY),
    sa.column("qb_updated_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)
item_prices = sa.table(
    "item_prices",
    sa.column("item_id", sa.Integer),
    sa.column("unit_price", MONEY),
    sa.column("valid_from", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_away_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("merged_into_qb_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("qb_webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_away_id", sa.String(length=32), nullable=True))
    without_history = sa.select(
        items.c.id,
        items.c.unit_price,
        sa.func.coalesce(items.c.qb_updated_at, items.c.created_at),
        sa.literal(utcnow(), UTCDateTime()),
    ).where(
        items.c.unit_price.is_not(None),
        ~sa.exists().where(item_prices.c.item_id == items.c.id),
    )
    op.execute(item_prices.insert().from_select(["item_id", "unit_price", "valid_from", "created_at"], without_history))


def downgrade() -> None:
    with op.batch_alter_table("qb_webhook_events", schema=None) as batch_op:
        batch_op.drop_column("merged_away_id")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("merged_into_qb_id")
        batch_op.drop_column("merged_away_at")

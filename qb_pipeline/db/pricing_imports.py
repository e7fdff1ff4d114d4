"""Tables of the pricing import (`sync.pricing_import`): staged rows, and a lock with a version per key.

A large file is staged in chunks, each committed on its own so other writers (pushes, pulls) never
wait long, then swapped into the pricing history in one short transaction: all or nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from qb_pipeline.db.models import Base
from qb_pipeline.db.types import PERCENT, UNIT_PRICE, UTCDateTime, utcnow


class PricingImportRow(Base):
    """One history row an import will write: a new interval (`existing_id` None) or a new valid_to for
    an existing one. `price_level_id` is negative for a level the same import creates."""

    __tablename__ = "pricing_import_rows"
    __table_args__ = (sa.Index("ix_pricing_import_rows_import", "import_id", "target", "existing_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str | None] = mapped_column(sa.String(32))  # the company whose pricing it writes
    import_id: Mapped[str] = mapped_column(sa.String(32))
    target: Mapped[str] = mapped_column(sa.String(40))  # the history table
    existing_id: Mapped[int | None] = mapped_column(sa.Integer)
    customer_id: Mapped[int | None] = mapped_column(sa.Integer)
    item_id: Mapped[int | None] = mapped_column(sa.Integer)
    price_level_id: Mapped[int | None] = mapped_column(sa.Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(UNIT_PRICE)
    percent: Mapped[Decimal | None] = mapped_column(PERCENT)
    custom_price: Mapped[Decimal | None] = mapped_column(UNIT_PRICE)
    custom_percent: Mapped[Decimal | None] = mapped_column(PERCENT)
    source: Mapped[str | None] = mapped_column(sa.String(20))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PricingLock(Base):
    """One customer's or price level's pricing ("customer:12", "price_level:3", "level_name:vip"): a
    writer bumps `version` in the transaction that changes it (on PostgreSQL that holds the row's lock
    until commit), so writers of one key queue and an import sees whether its key changed meanwhile."""

    __tablename__ = "pricing_locks"

    lock_key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    realm_id: Mapped[str | None] = mapped_column(sa.String(32))  # the company whose pricing the key guards
    version: Mapped[int] = mapped_column(sa.Integer, default=0)

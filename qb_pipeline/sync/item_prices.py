"""Each item's QuickBooks price over time, kept as a pull writes the item (the `items` entry's pull hooks,
sync/entities.py): the price history orders are priced from (sync/price_book.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import Item, ItemPrice
from qb_pipeline.sync.pricing import record_item_price

HeldPrices = dict[str, tuple[Decimal | None, datetime | None]]  # QuickBooks Id → (price, since which version)


def prices_held(stored: dict[str, Item]) -> HeldPrices:
    """The price each item of a page had before the page is written, and since which version: kept until
    the change."""
    return {qb_id: (local.unit_price, local.qb_updated_at) for qb_id, local in stored.items()}


def record_item_prices(
    session: Session, changed: dict[str, dict], previous: HeldPrices, now: datetime, realm_id: str
) -> None:
    """Keep each item's QuickBooks price over time, from the instant QuickBooks says it changed. An item
    with no history yet (mirrored before history was kept) keeps the price we held until that change,
    so an order placed before it is not repriced by it."""
    moved = {
        qb_id: row
        for qb_id, row in changed.items()
        if row.get("unit_price") is not None and (qb_id not in previous or previous[qb_id][0] != row["unit_price"])
    }
    if not moved:
        return
    ids = dict(
        session.execute(
            sa.select(Item.qb_id, Item.id).where(Item.realm_id == realm_id, Item.qb_id.in_(list(moved)))
        ).all()
    )
    with_history = set(session.scalars(sa.select(ItemPrice.item_id).where(ItemPrice.item_id.in_(list(ids.values())))))
    first = []  # a first price needs no interval closed: one insert for a whole full pull
    for qb_id, row in moved.items():
        if ids[qb_id] not in with_history:
            first += _first_prices(ids[qb_id], row, previous.get(qb_id, (None, None)), now)
    session.add_all(first)
    for qb_id, row in moved.items():
        if ids[qb_id] in with_history:
            record_item_price(session, ids[qb_id], row["unit_price"], at=row["qb_updated_at"] or now)
    session.flush()


def _first_prices(item_id: int, row: dict, held_before: tuple, now: datetime) -> list[ItemPrice]:
    """An item's first history: the price we held until QuickBooks changed it (when we held one), then its new one."""
    at = row["qb_updated_at"] or now
    held, held_since = held_before
    prices = []
    if held is not None:
        since = held_since if held_since is not None and held_since < at else at - timedelta(microseconds=1)
        prices.append(ItemPrice(item_id=item_id, unit_price=held, valid_from=since, valid_to=at))
    prices.append(ItemPrice(item_id=item_id, unit_price=row["unit_price"], valid_from=at))
    return prices

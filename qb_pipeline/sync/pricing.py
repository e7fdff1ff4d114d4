"""Per-customer pricing history, modelled on QuickBooks Desktop price levels (QBO's API has none).

How a price is found from this history is `sync.price_book`. Every change closes the interval in force
and opens a new one; intervals of one key never overlap, and a value equal to the one in force changes nothing.
A unit price has at most seven decimals (QuickBooks' places) and a percent at most four, counted as written
(8.00000000 has eight): more is refused, never rounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import (
    CustomerItemPrice,
    CustomerPriceLevel,
    ItemPrice,
    PriceLevelItem,
    PriceLevelPercentage,
)
from qb_pipeline.db.types import (
    PERCENT_PLACES,
    UNIT_PRICE_PLACES,
    UNIT_PRICE_STEP,
    decimals_written,
    plain_decimal,
    to_unit_price,
    utcnow,
)
from qb_pipeline.sync.price_book import PricingError

# Far above any real price; with seven decimals a price below it has at most 15 significant digits, which
# SQLite (it keeps NUMERIC values as doubles) stores exactly.
MAX_PRICE = Decimal("100000000")
MIN_PERCENT, MAX_PERCENT = Decimal(-100), Decimal(1000)


def _replace(session: Session, model, at: datetime | None, conditions: list, new_row, same) -> bool:
    """Make `new_row` (None: no value) the value of one key from `at`; returns whether anything changed."""
    rows = session.scalars(sa.select(model).where(*conditions).order_by(model.valid_from)).all()
    changed = replace_in_force(rows, at or utcnow(), new_row, same)
    if changed:
        if new_row is not None:
            session.add(new_row)
        session.flush()
    return changed


def replace_in_force(rows: list, at: datetime, new_row, same) -> bool:
    """The rule behind every change, over one key's intervals in memory (`rows`, by valid_from): sets the
    closed row's valid_to and `new_row`'s interval, and returns whether anything changed.

    History is appended to, never rewritten: the value in force at `at` is closed at `at`, and the new
    one runs until that value would have ended (or, in a gap, until the next value starts), so no two
    intervals of the key ever overlap — ended ones included. A value equal to the one in force is a
    no-op, so importing the same file twice changes nothing.
    """
    in_force = next((r for r in rows if r.valid_from <= at and (r.valid_to is None or r.valid_to > at)), None)
    if (in_force is None and new_row is None) or (in_force is not None and new_row is not None and same(in_force)):
        return False
    if in_force is not None and in_force.valid_from == at:
        raise PricingError(
            f"a different value already starts at {at.isoformat()}; history is not rewritten: "
            "leave valid_from empty to change it from now, or give a later one"
        )
    if in_force is not None:
        end = in_force.valid_to
        in_force.valid_to = at
    else:
        end = next((r.valid_from for r in rows if r.valid_from > at), None)
    if new_row is not None:
        new_row.valid_from, new_row.valid_to = at, end
    return True


def set_interval(
    session: Session, model, conditions: list, new_row, valid_from: datetime, valid_to: datetime | None
) -> bool:
    """Restore one interval exactly (an exported history): refused when it overlaps any interval of the
    key; a no-op when the same interval with the same value is there already."""
    rows = session.scalars(sa.select(model).where(*conditions)).all()
    changed = restore_interval(rows, new_row, valid_from, valid_to)
    if changed:
        session.add(new_row)
        session.flush()
    return changed


def restore_interval(rows: list, new_row, valid_from: datetime, valid_to: datetime | None) -> bool:
    """`set_interval`'s rule over one key's intervals in memory; sets `new_row`'s interval."""
    for row in rows:
        if row.valid_from == valid_from and row.valid_to == valid_to and values_of(row) == values_of(new_row):
            return False
        if row.valid_from < (valid_to or _END) and valid_from < (row.valid_to or _END):
            raise PricingError(
                f"the interval {valid_from.isoformat()} – {valid_to.isoformat() if valid_to else 'open'} "
                f"overlaps one from {row.valid_from.isoformat()}: history is not rewritten"
            )
    new_row.valid_from, new_row.valid_to = valid_from, valid_to
    return True


_END = datetime.max.replace(tzinfo=timezone.utc)
_VALUE_COLUMNS = ("unit_price", "percent", "custom_price", "custom_percent", "price_level_id")


def values_of(row) -> tuple:
    return tuple(getattr(row, column, None) for column in _VALUE_COLUMNS)


# Every setter takes `at` (default now) and returns whether anything changed; with `until` it restores
# one closed interval exactly instead (an exported history).


def set_customer_item_price(
    session: Session,
    customer_id: int,
    item_id: int,
    unit_price: Decimal | None,
    *,
    at: datetime | None = None,
    until: datetime | None = None,
    source: str = "manual",
) -> bool:
    """A customer's own price for an item from `at` on; None ends it (back to level or item price)."""
    new_row = (
        None
        if unit_price is None
        else CustomerItemPrice(
            customer_id=customer_id, item_id=item_id, unit_price=check_price(unit_price), source=source
        )
    )
    return _apply(
        session,
        CustomerItemPrice,
        at,
        until,
        [CustomerItemPrice.customer_id == customer_id, CustomerItemPrice.item_id == item_id],
        new_row,
    )


def assign_price_level(
    session: Session,
    customer_id: int,
    price_level_id: int | None,
    *,
    at: datetime | None = None,
    until: datetime | None = None,
) -> bool:
    new_row = (
        None if price_level_id is None else CustomerPriceLevel(customer_id=customer_id, price_level_id=price_level_id)
    )
    return _apply(session, CustomerPriceLevel, at, until, [CustomerPriceLevel.customer_id == customer_id], new_row)


def set_level_percentage(
    session: Session,
    price_level_id: int,
    percent: Decimal,
    *,
    at: datetime | None = None,
    until: datetime | None = None,
) -> bool:
    return _apply(
        session,
        PriceLevelPercentage,
        at,
        until,
        [PriceLevelPercentage.price_level_id == price_level_id],
        PriceLevelPercentage(price_level_id=price_level_id, percent=check_percent(percent)),
    )


def set_level_item(
    session: Session,
    price_level_id: int,
    item_id: int,
    *,
    custom_price: Decimal | None = None,
    custom_percent: Decimal | None = None,
    at: datetime | None = None,
    until: datetime | None = None,
) -> bool:
    """A PerItem level's rule for one item: exactly one of a price or a percentage (both None removes it)."""
    if custom_price is not None and custom_percent is not None:
        raise PricingError("a price level rule has a custom price or a percentage, not both")
    new_row = None
    if custom_price is not None or custom_percent is not None:
        new_row = PriceLevelItem(
            price_level_id=price_level_id,
            item_id=item_id,
            custom_price=None if custom_price is None else check_price(custom_price),
            custom_percent=None if custom_percent is None else check_percent(custom_percent),
        )
    return _apply(
        session,
        PriceLevelItem,
        at,
        until,
        [PriceLevelItem.price_level_id == price_level_id, PriceLevelItem.item_id == item_id],
        new_row,
    )


def record_item_price(session: Session, item_id: int, unit_price: Decimal, *, at: datetime) -> bool:
    """QuickBooks' price of an item from `at` (its LastUpdatedTime) on, as a pull saw it."""
    latest = session.scalar(sa.select(sa.func.max(ItemPrice.valid_from)).where(ItemPrice.item_id == item_id))
    if latest is not None and at <= latest:
        at = latest + timedelta(microseconds=1)  # two changes within QuickBooks' one-second resolution
    price = to_unit_price(unit_price)
    return _replace(
        session,
        ItemPrice,
        at,
        [ItemPrice.item_id == item_id],
        ItemPrice(item_id=item_id, unit_price=price),
        lambda row: row.unit_price == price,
    )


def _apply(session: Session, model, at: datetime | None, until: datetime | None, conditions: list, new_row) -> bool:
    if until is not None:
        if new_row is None or at is None:
            raise PricingError("a closed interval needs a value and a valid_from")
        return set_interval(session, model, conditions, new_row, at, until)
    return _replace(session, model, at, conditions, new_row, lambda row: values_of(row) == values_of(new_row))


def check_price(value: Decimal) -> Decimal:
    """A unit price as the API and the CSV take it: at most seven decimals as written, not negative, not absurd."""
    if not value.is_finite():
        raise PricingError(f"price {value} is not a number")
    if value < 0:
        raise PricingError(f"price {value} is negative")
    if value >= MAX_PRICE:
        raise PricingError(f"price {value} is too large (at most {plain_decimal(MAX_PRICE - UNIT_PRICE_STEP)})")
    if decimals_written(value) > UNIT_PRICE_PLACES:
        raise PricingError(
            f"price {value} has more than {UNIT_PRICE_PLACES} decimals "
            f"(unit prices are kept to {UNIT_PRICE_PLACES} places and never rounded)"
        )
    return value


def check_percent(value: Decimal) -> Decimal:
    """A percentage: −100 (free) … 1000, at most four decimals as written (what the database keeps), never rounded."""
    if not value.is_finite() or not MIN_PERCENT <= value <= MAX_PERCENT:
        raise PricingError(f"percent {value} is outside {MIN_PERCENT} … {MAX_PERCENT}")
    if decimals_written(value) > PERCENT_PLACES:
        raise PricingError(f"percent {value} has more than four decimals (percentages are not rounded)")
    return value

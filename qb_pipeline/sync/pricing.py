"""Per-customer pricing, modelled on QuickBooks Desktop price levels (QBO's API has none).

Effective unit price of an item for a customer at an instant (the order time):
1. the customer's own price for the item, else
2. the customer's price level applied to the item's price — FixedPercentage: item price × (1 + p/100);
   PerItem: the level's custom price for the item, or item price × (1 + p/100); an item the PerItem
   level does not list keeps its price — else
3. the item's price (its QuickBooks UnitPrice).
A percentage result is rounded to the cent, half away from zero (QuickBooks Desktop's default
"no rounding" still stores amounts in cents). Every change closes the current validity interval and
opens a new one, so an order is priced as of its own time and the history can be listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import (
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    PriceLevel,
    PriceLevelItem,
    PriceLevelPercentage,
    PriceLevelType,
)
from qb_pipeline.db.types import CENT, utcnow

HUNDRED = Decimal(100)


class PricingError(ValueError):
    """A price cannot be determined; the message says what a person should fix."""


@dataclass(frozen=True)
class PriceQuote:
    unit_price: Decimal
    source: str  # "customer", "price_level" or "item"
    price_level: str | None = None


def apply_percent(price: Decimal, percent: Decimal) -> Decimal:
    """`price` moved by `percent` (−10 = ten percent off), rounded to the cent."""
    return (price * (HUNDRED + percent) / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)


def _in_force(model, at: datetime):
    return sa.and_(model.valid_from <= at, sa.or_(model.valid_to.is_(None), model.valid_to > at))


def _current(session: Session, model, at: datetime, *conditions):
    return session.scalars(
        sa.select(model).where(*conditions, _in_force(model, at)).order_by(model.valid_from.desc()).limit(1)
    ).first()


def effective_price(session: Session, customer_id: int, item: Item, at: datetime,
                    levels: dict | None = None) -> PriceQuote:
    """`levels`: a dict the caller keeps across the lines of one order, so the customer's price level
    as of `at` is looked up once per order rather than once per line."""
    own = _current(session, CustomerItemPrice, at,
                   CustomerItemPrice.customer_id == customer_id, CustomerItemPrice.item_id == item.id)
    if own is not None:
        return PriceQuote(own.unit_price, "customer")

    levels = {} if levels is None else levels
    if (customer_id, at) not in levels:
        assignment = _current(session, CustomerPriceLevel, at, CustomerPriceLevel.customer_id == customer_id)
        levels[(customer_id, at)] = session.get(PriceLevel, assignment.price_level_id) if assignment else None
    level = levels[(customer_id, at)]
    if level is not None and level.active:
        quote = _level_price(session, level, item, at)
        if quote is not None:
            return quote

    if item.unit_price is None:
        raise PricingError(f"item {item.name!r} has no price: set its UnitPrice in QuickBooks or a customer price")
    return PriceQuote(item.unit_price, "item")


def _level_price(session: Session, level: PriceLevel, item: Item, at: datetime) -> PriceQuote | None:
    if level.level_type == PriceLevelType.FIXED_PERCENTAGE:
        rate = _current(session, PriceLevelPercentage, at, PriceLevelPercentage.price_level_id == level.id)
        if rate is None or item.unit_price is None:
            return None
        return PriceQuote(apply_percent(item.unit_price, rate.percent), "price_level", level.name)
    rule = _current(session, PriceLevelItem, at,
                    PriceLevelItem.price_level_id == level.id, PriceLevelItem.item_id == item.id)
    if rule is None:
        return None
    if rule.custom_price is not None:
        return PriceQuote(rule.custom_price, "price_level", level.name)
    if item.unit_price is None:
        return None
    return PriceQuote(apply_percent(item.unit_price, rule.custom_percent), "price_level", level.name)


def _replace(session: Session, model, at: datetime | None, conditions: list, new_row) -> object:
    """Close the interval in force for `conditions` at `at` and open `new_row` from `at`."""
    at = at or utcnow()
    since = session.scalar(sa.select(sa.func.max(model.valid_from)).where(*conditions, model.valid_to.is_(None)))
    if since is not None and at < since:
        # History is appended to, never rewritten: an earlier start would overlap the interval in force.
        raise PricingError(f"valid_from {at.isoformat()} is before the value in force since {since.isoformat()}; "
                           "history is not rewritten: give a later valid_from")
    session.execute(
        sa.update(model)
        .where(*conditions, model.valid_to.is_(None))
        .values(valid_to=at)
        .execution_options(synchronize_session=False)
    )
    if new_row is not None:
        new_row.valid_from = at
        session.add(new_row)
    session.flush()
    return new_row


def set_customer_item_price(session: Session, customer_id: int, item_id: int, unit_price: Decimal | None,
                            *, at: datetime | None = None, source: str = "manual") -> None:
    """A customer's own price for an item from `at` on; None ends it (back to level or item price)."""
    _replace(
        session, CustomerItemPrice, at,
        [CustomerItemPrice.customer_id == customer_id, CustomerItemPrice.item_id == item_id],
        None if unit_price is None else CustomerItemPrice(
            customer_id=customer_id, item_id=item_id, unit_price=_cents(unit_price), source=source),
    )


def assign_price_level(session: Session, customer_id: int, price_level_id: int | None,
                       *, at: datetime | None = None) -> None:
    _replace(
        session, CustomerPriceLevel, at, [CustomerPriceLevel.customer_id == customer_id],
        None if price_level_id is None else CustomerPriceLevel(customer_id=customer_id, price_level_id=price_level_id),
    )


def set_level_percentage(session: Session, price_level_id: int, percent: Decimal, *, at: datetime | None = None) -> None:
    _replace(session, PriceLevelPercentage, at, [PriceLevelPercentage.price_level_id == price_level_id],
             PriceLevelPercentage(price_level_id=price_level_id, percent=percent))


def set_level_item(session: Session, price_level_id: int, item_id: int, *, custom_price: Decimal | None = None,
                   custom_percent: Decimal | None = None, at: datetime | None = None) -> None:
    """A PerItem level's rule for one item: exactly one of a price or a percentage (both None removes it)."""
    if custom_price is not None and custom_percent is not None:
        raise PricingError("a price level rule has a custom price or a percentage, not both")
    new_row = None
    if custom_price is not None or custom_percent is not None:
        new_row = PriceLevelItem(price_level_id=price_level_id, item_id=item_id,
                                 custom_price=None if custom_price is None else _cents(custom_price),
                                 custom_percent=custom_percent)
    _replace(session, PriceLevelItem, at,
             [PriceLevelItem.price_level_id == price_level_id, PriceLevelItem.item_id == item_id], new_row)


def _cents(value: Decimal) -> Decimal:
    if value != value.quantize(CENT):
        raise PricingError(f"price {value} has more than two decimals")
    if value < 0:
        raise PricingError(f"price {value} is negative")
    return value.quantize(CENT)

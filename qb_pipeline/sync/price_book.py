"""What an item costs a customer at an instant: the pricing rules, over history read in a few queries.

Effective unit price of an item for a customer at an instant (the order time):
1. the customer's own price for the item, else
2. the customer's price level applied to the item's price — FixedPercentage: item price × (1 + p/100);
   PerItem: the level's custom price for the item, or item price × (1 + p/100); an item the PerItem
   level does not list keeps its price — else
3. the item's price (its QuickBooks UnitPrice as of the order time: every pull records it, so a
   retried order is not repriced by a later change in QuickBooks; before the history starts, its
   earliest price).
A percentage result is a unit price like any other: rounded half up to QuickBooks' seven decimal places
(0.125 − 10 % = 0.1125), and only the line's amount, quantity × unit price, is rounded to the cent
(`invoice_draft.line_amount`), as QuickBooks rounds a line. History is written by `sync.pricing`.

A push prices thousands of lines: `PriceBook.load` reads the history of the customers and items it
names once (six queries), and `quote` works in memory, instead of three queries per line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import (
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    ItemPrice,
    PriceLevel,
    PriceLevelItem,
    PriceLevelPercentage,
    PriceLevelType,
)
from qb_pipeline.db.types import to_unit_price

HUNDRED = Decimal(100)
IN_LIST_CHUNK = 900  # ids per IN (...): well inside SQLite's and PostgreSQL's parameter limits


class PricingError(ValueError):
    """A price cannot be determined; the message says what a person should fix."""


@dataclass(frozen=True)
class PriceQuote:
    unit_price: Decimal
    source: str  # "customer", "price_level" or "item"
    price_level: str | None = None


def apply_percent(price: Decimal, percent: Decimal) -> Decimal:
    """`price` moved by `percent` (−10 = ten percent off), rounded half up to seven decimal places."""
    return to_unit_price(price * (HUNDRED + percent) / HUNDRED)


def _in_force(rows, at: datetime):
    """The row of one key in force at `at` (intervals of a key never overlap), or None."""
    found = None
    for row in rows:
        if row.valid_from <= at and (row.valid_to is None or row.valid_to > at):
            if found is None or row.valid_from > found.valid_from:
                found = row
    return found


def _grouped(session: Session, model, key, chunked: tuple | None = None, *filters) -> dict:
    """`model`'s rows grouped by `key(row)`; `chunked` = (column, ids) is read `IN_LIST_CHUNK` ids at a time."""
    if chunked is None:
        queries = [sa.select(model).where(*filters)]
    else:
        column, ids = chunked
        ids = sorted(set(ids))
        queries = [
            sa.select(model).where(column.in_(ids[start : start + IN_LIST_CHUNK]), *filters)
            for start in range(0, len(ids), IN_LIST_CHUNK)
        ]
    grouped: dict = defaultdict(list)
    for query in queries:
        for row in session.scalars(query):
            grouped[key(row)].append(row)
    return grouped


class PriceBook:
    """The pricing history of some customers and items, read once; `quote` answers from memory."""

    def __init__(self, session: Session, customer_ids: Iterable[int], item_ids: Iterable[int]) -> None:
        customer_ids, item_ids = set(customer_ids), set(item_ids)
        self._own = _grouped(
            session,
            CustomerItemPrice,
            lambda r: (r.customer_id, r.item_id),
            (CustomerItemPrice.customer_id, customer_ids),
            CustomerItemPrice.item_id.in_(sorted(item_ids)),
        )
        self._assignments = _grouped(
            session, CustomerPriceLevel, lambda r: r.customer_id, (CustomerPriceLevel.customer_id, customer_ids)
        )
        self._levels = {level.id: level for level in session.scalars(sa.select(PriceLevel))}
        self._percentages = _grouped(session, PriceLevelPercentage, lambda r: r.price_level_id)
        self._level_items = _grouped(
            session, PriceLevelItem, lambda r: (r.price_level_id, r.item_id), (PriceLevelItem.item_id, item_ids)
        )
        self._item_prices = _grouped(session, ItemPrice, lambda r: r.item_id, (ItemPrice.item_id, item_ids))

    def quote(self, customer_id: int, item: Item, at: datetime) -> PriceQuote:
        own = _in_force(self._own.get((customer_id, item.id), ()), at)
        if own is not None:
            return PriceQuote(own.unit_price, "customer")
        assignment = _in_force(self._assignments.get(customer_id, ()), at)
        level = self._levels.get(assignment.price_level_id) if assignment is not None else None
        if level is not None and level.active:
            quote = self._level_price(level, item, at)
            if quote is not None:
                return quote
        item_price = self.item_price_at(item, at)
        if item_price is None:
            raise PricingError(f"item {item.name!r} has no price: set its UnitPrice in QuickBooks or a customer price")
        return PriceQuote(item_price, "item")

    def item_price_at(self, item: Item, at: datetime) -> Decimal | None:
        """QuickBooks' price of the item in force at `at` (from the pulls' history). Before its history
        starts, the earliest price it knows: every later one was set after `at`, so it must not reach an
        order of then. The item's current price when it has no history (never pulled)."""
        history = self._item_prices.get(item.id, ())
        recorded = _in_force(history, at)
        earliest = min(history, key=lambda row: row.valid_from, default=None)
        if recorded is None and earliest is not None and at < earliest.valid_from:
            recorded = earliest
        return recorded.unit_price if recorded is not None else item.unit_price

    def _level_price(self, level: PriceLevel, item: Item, at: datetime) -> PriceQuote | None:
        if level.level_type == PriceLevelType.FIXED_PERCENTAGE:
            rate = _in_force(self._percentages.get(level.id, ()), at)
            base = self.item_price_at(item, at) if rate is not None else None
            if base is None:
                return None
            return PriceQuote(apply_percent(base, rate.percent), "price_level", level.name)
        rule = _in_force(self._level_items.get((level.id, item.id), ()), at)
        if rule is None:
            return None
        if rule.custom_price is not None:
            return PriceQuote(rule.custom_price, "price_level", level.name)
        base = self.item_price_at(item, at)
        if base is None:
            return None
        return PriceQuote(apply_percent(base, rule.custom_percent), "price_level", level.name)


def effective_price(session: Session, customer_id: int, item: Item, at: datetime) -> PriceQuote:
    """One quote; to price many lines, load a `PriceBook` once."""
    return PriceBook(session, [customer_id], [item.id]).quote(customer_id, item, at)

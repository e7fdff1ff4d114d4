"""The pricing as CSV in the import format (`sync.pricing_csv`), written as the database returns it.

Without history, each value in force `now` is written with its own valid_from, each value scheduled
later with its own, and a scheduled end that no value of the same key follows as an END row at that
instant, so importing the file into the same database changes nothing. With history, every interval
is written with its valid_to.

Rows are streamed (a server-side cursor on PostgreSQL) and written as they come, so a large export
needs the memory of a few thousand rows, not of the file: by kind, by valid_from, each END row just
before the first row that starts after it.
"""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    PriceLevel,
    PriceLevelItem,
    PriceLevelPercentage,
)
from qb_pipeline.db.types import plain_decimal, price_text
from qb_pipeline.sync.companies import company_named, in_company
from qb_pipeline.sync.pricing_csv import COLUMNS, END

STREAM_ROWS = 2000  # rows fetched at a time


def export_pricing(
    session: Session, *, include_history: bool = False, now: datetime | None = None, realm_id: str | None = None
) -> str:
    """The export as one string (`write_pricing` writes it to a file as it goes)."""
    out = io.StringIO()
    write_pricing(session, out, include_history=include_history, now=now, realm_id=realm_id)
    return out.getvalue()


def write_pricing(
    session: Session,
    out: TextIO,
    *,
    include_history: bool = False,
    now: datetime | None = None,
    realm_id: str | None = None,
) -> int:
    """Write company `realm_id`'s pricing (None: the one connected) in force `now` and scheduled after it (or
    its whole history, with valid_to) to `out`; returns the number of rows written after the header."""
    now = now or datetime.now(timezone.utc)
    realm_id = company_named(session, realm_id)
    columns = COLUMNS + (["valid_to"] if include_history else [])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    written = 0
    for kind, model, key_columns, joins, cells, end_cells in _KINDS:
        ends = end_cells is not None and not include_history  # a --history export has valid_to instead

        def line(values: dict[str, str], valid_from: datetime, valid_to: datetime | None = None) -> list[str]:
            values.update(kind=kind, valid_from=valid_from.isoformat())  # noqa: B023 (used in this iteration)
            if include_history:
                values["valid_to"] = valid_to.isoformat() if valid_to else ""
            return [values.get(name, "") for name in columns]

        pending: list[tuple[datetime, int, list[str]]] = []  # END rows not written yet: (at, order, cells)
        streamed = _stream(session, model, key_columns, joins, now, include_history, ends, realm_id)
        for order, found in enumerate(streamed):
            while pending and pending[0][0] <= found.valid_from:  # an END goes before a row starting at its instant
                writer.writerow(heapq.heappop(pending)[2])
                written += 1
            writer.writerow(line(cells(found), found.valid_from, found.valid_to))
            written += 1
            if ends and found.ends_later:
                heapq.heappush(pending, (found.valid_to, order, line(end_cells(found), found.valid_to)))
        for _at, _order, cells_ in sorted(pending):
            writer.writerow(cells_)
            written += 1
    return written


def _stream(session: Session, model, key_columns, joins, now: datetime, include_history: bool, ends: bool, realm_id):
    """The intervals of one kind of company `realm_id` with the columns its rows need, by valid_from;
    `ends_later` when one is closed at an instant where no interval of its key starts (an END row is
    written there)."""
    named = [column.label(name) for name, column in joins[0]]
    statement = sa.select(model.valid_from, model.valid_to, *named).select_from(model)
    for target, condition in joins[1:]:
        statement = statement.join(target, condition)
    statement = statement.where(in_company(joins[1][0], realm_id))  # the level or customer: of one company
    if ends:
        following = aliased(model)
        follows = sa.exists().where(
            *(getattr(following, name) == getattr(model, name) for name in key_columns),
            following.valid_from == model.valid_to,
        )
        statement = statement.add_columns(sa.and_(model.valid_to.is_not(None), ~follows).label("ends_later"))
    if not include_history:
        statement = statement.where(sa.or_(model.valid_to.is_(None), model.valid_to > now))
    statement = statement.order_by(model.valid_from, model.id).execution_options(yield_per=STREAM_ROWS)
    return session.connection().execute(statement)


def _price(number: Decimal | None) -> str:
    return "" if number is None else price_text(number)  # 0.00 is a price, not an empty cell


def _percent(number: Decimal | None) -> str:
    return "" if number is None else str(plain_decimal(number))


# kind, history table, the columns naming one key, ([(name, column) selected], (table, join condition)…),
# a row's cells, its END row's cells (None: the kind has no END; a level's percent is never ended)
_KINDS: list[tuple[str, type, tuple[str, ...], tuple, Callable, Callable | None]] = [
    (
        "level_percent",
        PriceLevelPercentage,
        ("price_level_id",),
        (
            [("level", PriceLevel.name), ("percent", PriceLevelPercentage.percent)],
            (PriceLevel, PriceLevel.id == PriceLevelPercentage.price_level_id),
        ),
        lambda r: {"price_level": r.level, "percent": _percent(r.percent)},
        None,
    ),
    (
        "level_item",
        PriceLevelItem,
        ("price_level_id", "item_id"),
        (
            [
                ("level", PriceLevel.name),
                ("item", Item.name),
                ("price", PriceLevelItem.custom_price),
                ("percent", PriceLevelItem.custom_percent),
            ],
            (PriceLevel, PriceLevel.id == PriceLevelItem.price_level_id),
            (Item, Item.id == PriceLevelItem.item_id),
        ),
        lambda r: {"price_level": r.level, "item": r.item, "price": _price(r.price), "percent": _percent(r.percent)},
        lambda r: {"price_level": r.level, "item": r.item, "price": END},
    ),
    (
        "customer_price",
        CustomerItemPrice,
        ("customer_id", "item_id"),
        (
            [
                ("customer", Customer.display_name),
                ("item", Item.name),
                ("price", CustomerItemPrice.unit_price),
                ("source", CustomerItemPrice.source),
            ],
            (Customer, Customer.id == CustomerItemPrice.customer_id),
            (Item, Item.id == CustomerItemPrice.item_id),
        ),
        lambda r: {"customer": r.customer, "item": r.item, "price": _price(r.price), "source": r.source},
        lambda r: {"customer": r.customer, "item": r.item, "price": END},
    ),
    (
        "assignment",
        CustomerPriceLevel,
        ("customer_id",),
        (
            [("customer", Customer.display_name), ("level", PriceLevel.name)],
            (Customer, Customer.id == CustomerPriceLevel.customer_id),
            (PriceLevel, PriceLevel.id == CustomerPriceLevel.price_level_id),
        ),
        lambda r: {"customer": r.customer, "price_level": r.level},
        lambda r: {"customer": r.customer, "price_level": END},
    ),
]

"""Pricing as CSV: import (every row checked, each bad row reported by line) and export.

One file holds all four kinds of pricing row, told apart by the `kind` column:

| kind           | columns used                       | meaning                                        |
| -------------- | ---------------------------------- | ---------------------------------------------- |
| customer_price | customer, item, price              | the customer's own price for the item          |
| level_percent  | price_level, percent               | a FixedPercentage level (−10 = ten percent off) |
| level_item     | price_level, item, price / percent | a PerItem level's rule for one item            |
| assignment     | customer, price_level              | the customer's price level                      |

`valid_from` (ISO 8601 with offset; default: now) starts the new interval; the old one is closed,
never overwritten. An empty price on customer_price, or an empty price_level on assignment, ends it.
Import applies the good rows in one transaction and reports the bad ones; with strict=True any bad
row means nothing is applied.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    PriceLevel,
    PriceLevelItem,
    PriceLevelPercentage,
    PriceLevelType,
)
from qb_pipeline.db.types import plain_decimal
from qb_pipeline.sync import pricing

COLUMNS = ["kind", "customer", "price_level", "item", "price", "percent", "valid_from"]
KINDS = ("customer_price", "level_percent", "level_item", "assignment")


@dataclass
class ImportReport:
    applied: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    strict_rejected: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class _RowError(Exception):
    pass


def import_pricing(session: Session, source: TextIO, *, strict: bool = False, now: datetime | None = None) -> ImportReport:
    """Check every row, then apply the good ones (all or nothing when `strict`)."""
    now = now or datetime.now(timezone.utc)
    report = ImportReport()
    reader = csv.DictReader(source)
    if not reader.fieldnames:
        report.errors.append((1, f"the file is empty: expected a header line ({','.join(COLUMNS)}) and rows"))
        return report
    missing = [c for c in ("kind",) if c not in reader.fieldnames]
    if missing:
        report.errors.append((1, f"the header has no {missing[0]!r} column (expected: {', '.join(COLUMNS)})"))
        return report
    with session.begin_nested() as savepoint:
        seen: dict[tuple, tuple[int, tuple]] = {}  # what a row sets → (its line, the values it sets)
        for row in reader:
            line = reader.line_num
            target, values = _row_identity(row)
            try:
                with session.begin_nested():  # a bad row leaves no trace of itself
                    _apply_row(session, row, now)
                    if target in seen and seen[target][1] != values:
                        raise _RowError(f"conflicts with line {seen[target][0]}: the same {target[0]} for the same "
                                        "names and valid_from with a different value; keep one of them")
                report.applied += 1
                seen.setdefault(target, (line, values))
            except _RowError as error:
                report.errors.append((line, str(error)))
            except pricing.PricingError as error:
                report.errors.append((line, str(error)))
        if strict and report.errors:
            report.strict_rejected, report.applied = True, 0
            savepoint.rollback()
    return report


def _row_identity(row: dict) -> tuple[tuple, tuple]:
    """What a row sets (kind, names, valid_from) and the values it sets them to, for spotting conflicts."""
    def cell(column: str) -> str:
        return (row.get(column) or "").strip()

    kind = cell("kind").lower()
    level = cell("price_level").lower()
    target = (kind, cell("customer").lower(), "" if kind == "assignment" else level, cell("item").lower(),
              cell("valid_from"))
    return target, (cell("price"), cell("percent"), level if kind == "assignment" else "")


def _apply_row(session: Session, row: dict, now: datetime) -> None:
    kind = _text(row, "kind").lower()
    at = _instant(row.get("valid_from"), now)
    if kind == "customer_price":
        customer, item = _customer(session, row), _item(session, row)
        price = _amount(row, "price", required=False)
        pricing.set_customer_item_price(session, customer.id, item.id, price, at=at, source="import")
    elif kind == "level_percent":
        level = _level(session, row, PriceLevelType.FIXED_PERCENTAGE)
        pricing.set_level_percentage(session, level.id, _amount(row, "percent", required=True, percent=True), at=at)
    elif kind == "level_item":
        level, item = _level(session, row, PriceLevelType.PER_ITEM), _item(session, row)
        price = _amount(row, "price", required=False)
        percent = _amount(row, "percent", required=False, percent=True)
        if price is None and percent is None:
            raise _RowError("level_item needs a price or a percent")
        pricing.set_level_item(session, level.id, item.id, custom_price=price, custom_percent=percent, at=at)
    elif kind == "assignment":
        customer = _customer(session, row)
        level_name = (row.get("price_level") or "").strip()
        level = _level(session, row, None) if level_name else None
        pricing.assign_price_level(session, customer.id, level.id if level else None, at=at)
    else:
        raise _RowError(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")


def _text(row: dict, column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise _RowError(f"{column} is empty")
    return value


def _customer(session: Session, row: dict) -> Customer:
    name = _text(row, "customer")
    found = session.scalars(sa.select(Customer).where(sa.func.lower(Customer.display_name) == name.lower())).all()
    if len(found) != 1:
        raise _RowError(f"customer {name!r} " + ("is not in the customer list" if not found else "is ambiguous"))
    return found[0]


def _item(session: Session, row: dict) -> Item:
    name = _text(row, "item")
    found = session.scalars(sa.select(Item).where(sa.func.lower(Item.name) == name.lower())).all()
    if len(found) != 1:
        raise _RowError(f"item {name!r} " + ("is not in the item list" if not found else "is ambiguous"))
    return found[0]


def _level(session: Session, row: dict, level_type: PriceLevelType | None) -> PriceLevel:
    """The named level; a new one is created for a row that defines it (its type from the row kind)."""
    name = _text(row, "price_level")
    level = session.scalars(sa.select(PriceLevel).where(sa.func.lower(PriceLevel.name) == name.lower())).first()
    if level is None:
        if level_type is None:
            raise _RowError(f"price level {name!r} does not exist (define it with level_percent or level_item rows)")
        level = PriceLevel(name=name, level_type=level_type)
        session.add(level)
        session.flush()
    elif level_type is not None and level.level_type != level_type:
        raise _RowError(f"price level {name!r} is {level.level_type.value}, not {level_type.value}")
    return level


def _amount(row: dict, column: str, *, required: bool, percent: bool = False) -> Decimal | None:
    raw = (row.get(column) or "").strip()
    if not raw:
        if required:
            raise _RowError(f"{column} is empty")
        return None
    try:
        value = Decimal(raw.rstrip("%")) if percent else Decimal(raw)
    except InvalidOperation:
        raise _RowError(f"{column} {raw!r} is not a number") from None
    if not value.is_finite():
        raise _RowError(f"{column} {raw!r} is not a number")
    if percent and not Decimal(-100) <= value <= Decimal(1000):
        raise _RowError(f"percent {raw} is outside -100 … 1000")
    return value


def _instant(raw: str | None, default: datetime) -> datetime:
    raw = (raw or "").strip()
    if not raw:
        return default
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _RowError(f"valid_from {raw!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise _RowError(f"valid_from {raw!r} needs a time zone offset (e.g. 2026-12-01T00:00:00+00:00)")
    return parsed.astimezone(timezone.utc)


def export_pricing(session: Session, *, include_history: bool = False) -> str:
    """The pricing in force (or its whole history) in the import format."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS + (["valid_to"] if include_history else []), lineterminator="\n")
    writer.writeheader()

    def rows(model, *joins):
        statement = sa.select(model, *joins[0::2])
        for target, condition in zip(joins[0::2], joins[1::2]):
            statement = statement.join(target, condition)
        if not include_history:
            statement = statement.where(model.valid_to.is_(None))
        return session.execute(statement.order_by(model.valid_from, model.id)).all()

    def write(kind: str, record, **values):
        entry = {"kind": kind, "valid_from": record.valid_from.isoformat(), **values}
        if include_history:
            entry["valid_to"] = record.valid_to.isoformat() if record.valid_to else ""
        writer.writerow(entry)

    for rate, level in rows(PriceLevelPercentage, PriceLevel, PriceLevel.id == PriceLevelPercentage.price_level_id):
        write("level_percent", rate, price_level=level.name, percent=plain_decimal(rate.percent))
    for rule, level, item in rows(PriceLevelItem, PriceLevel, PriceLevel.id == PriceLevelItem.price_level_id,
                                  Item, Item.id == PriceLevelItem.item_id):
        write("level_item", rule, price_level=level.name, item=item.name, price=rule.custom_price or "",
              percent="" if rule.custom_percent is None else plain_decimal(rule.custom_percent))
    for price, customer, item in rows(CustomerItemPrice, Customer, Customer.id == CustomerItemPrice.customer_id,
                                      Item, Item.id == CustomerItemPrice.item_id):
        write("customer_price", price, customer=customer.display_name, item=item.name, price=price.unit_price)
    for assignment, customer, level in rows(CustomerPriceLevel, Customer, Customer.id == CustomerPriceLevel.customer_id,
                                            PriceLevel, PriceLevel.id == CustomerPriceLevel.price_level_id):
        write("assignment", assignment, customer=customer.display_name, price_level=level.name)
    return out.getvalue()

"""A pricing file's rows, each checked on its own and its names matched to ids: what it sets, from when.

The format and the checks of one row are `sync.pricing_csv`'s; this reads a whole file with them, in
file order, and finds two rows that set the same thing at the same instant to different values. Each
cell is read once, and the names a file repeats (a customer on 200 rows) are keyed once and shared,
so that a 100,000-row file is checked in a couple of seconds and a few tens of megabytes.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import Customer, Item
from qb_pipeline.db.names import name_key
from qb_pipeline.sync import pricing
from qb_pipeline.sync.companies import in_company
from qb_pipeline.sync.csv_layout import text_lines
from qb_pipeline.sync.pricing_csv import (
    KINDS,
    SOURCES,
    ImportReport,
    _header_problem,
    _instant,
    _number,
    _row,
    _RowError,
)

_SHARED_WORDS = {word: word for word in (*KINDS, *SOURCES)}  # one string per kind and source, not one per row


@dataclass(slots=True)
class Intent:
    """A row that passed every check that needs no history: what it sets, from when."""

    line: int
    kind: str
    at: datetime
    until: datetime | None
    customer_id: int | None = None
    item_id: int | None = None
    level_name: str | None = None
    price: Decimal | None = None
    percent: Decimal | None = None
    source: str | None = None
    item_error: str | None = None  # a level_item's unknown item is reported after its level, as before


@dataclass
class Parsed:
    intents: list[Intent] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_names(session: Session, realm_id: str | None) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Company `realm_id`'s customer and item ids by name key, as rows name them."""
    return _name_ids(session, Customer, realm_id), _name_ids(session, Item, realm_id)


def _name_ids(session: Session, model, realm_id: str | None) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for key, id_ in session.execute(sa.select(model.name_key, model.id).where(in_company(model, realm_id))):
        found[key].append(id_)
    return found


class _NameKeys(dict):
    """name → name_key, each name keyed once: a file names the same few hundred customers and items
    on every row, and its rows are remembered by these keys."""

    def __missing__(self, name: str) -> str:
        key = self[name] = name_key(name)
        return key


def parse_rows(text: str, now: datetime, names: Callable[[], tuple[dict, dict]]) -> Parsed | ImportReport:
    """Every row's own checks, in file order (an ImportReport when the header is wrong); `names` reads
    them (`read_names`) once the header is right."""
    reader = csv.reader(text_lines(text.removeprefix("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    problem = _header_problem(header)
    if problem:
        return ImportReport(errors=[(1, problem)])
    customers, items = names()
    keys = _NameKeys()
    parsed = Parsed()
    seen: dict[tuple, tuple] = {}  # what a row sets → (its line, the values it sets)
    for fields_ in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in fields_):
            continue
        try:
            row = _row(header, fields_)
            kind = _SHARED_WORDS[row["kind"]]
            at = _instant(row.get("valid_from"), now)
            price, percent = _number(row, "price"), _number(row, "percent", percent=True)
            level = keys[row.get("price_level", "")]  # names are compared as they are matched: by key
            assigned = level if kind == "assignment" else ""  # an assignment's level is its value, not its target
            target = (
                kind,
                keys[row.get("customer", "")],
                level if kind != "assignment" else "",
                keys[row.get("item", "")],
                at,
            )
            earlier = seen.get(target)
            if earlier is not None and earlier[1:] != (price, percent, assigned):
                raise _RowError(
                    f"conflicts with line {earlier[0]}: the same {kind} for the same names "
                    "and valid_from with a different value; keep one of them"
                )
            if earlier is None:  # the file contradicts itself even if this row fails
                seen[target] = (line, price, percent, assigned)
            parsed.intents.append(_intent(line, kind, row, at, price, percent, keys, customers, items))
        except (_RowError, pricing.PricingError) as error:
            parsed.errors.append((line, str(error)))
    return parsed


def _intent(
    line: int,
    kind: str,
    row: dict[str, str],
    at: datetime,
    price: Decimal | None,
    percent: Decimal | None,
    keys: _NameKeys,
    customers: dict,
    items: dict,
) -> Intent:
    until = _instant(row.get("valid_to"), None, "valid_to") if row.get("valid_to") else None
    if until is not None and until <= at:
        raise _RowError(
            f"valid_to {until.isoformat()} is not after valid_from {at.isoformat()}: nothing would be in force"
        )
    intent = Intent(line, kind, at, until, level_name=row.get("price_level") or None)
    if kind in ("customer_price", "assignment"):
        intent.customer_id = _find(customers, row["customer"], keys, "customer")
    if kind == "customer_price":
        intent.item_id = _find(items, row["item"], keys, "item")
        source = (row.get("source") or "import").lower()
        if source not in SOURCES:
            raise _RowError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        intent.source = _SHARED_WORDS[source]
    if kind == "level_item":
        try:
            intent.item_id = _find(items, row["item"], keys, "item")
        except _RowError as error:
            intent.item_error = str(error)
    intent.price = price if kind in ("customer_price", "level_item") else None
    intent.percent = percent if kind in ("level_percent", "level_item") else None
    return intent


def _find(ids_by_key: dict[str, list[int]], name: str, keys: _NameKeys, what: str) -> int:
    found = ids_by_key.get(keys[name], [])
    if len(found) != 1:
        raise _RowError(f"{what} {name!r} " + (f"is not in the {what} list" if not found else "is ambiguous"))
    return found[0]

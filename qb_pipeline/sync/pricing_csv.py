"""Pricing as CSV: the format, and the checks of one row (each bad row reported by line).

One file holds all four kinds of pricing row, told apart by the `kind` column:

| kind           | columns it uses (all required)          | meaning                                         |
| -------------- | --------------------------------------- | ----------------------------------------------- |
| customer_price | customer, item, price                   | the customer's own price for the item           |
| level_percent  | price_level, percent                    | a FixedPercentage level (−10 = ten percent off)  |
| level_item     | price_level, item, price *or* percent   | a PerItem level's rule for one item             |
| assignment     | customer, price_level                   | the customer's price level                      |

A column a kind does not use must be empty. Ending something takes the word END, never an empty cell:
`price=END` ends a customer price or a level rule, `price_level=END` removes a customer's level.
Prices have at most seven decimals (QuickBooks' places for a unit price) and percents at most four,
counted as written: 8.00000000 is refused, never rounded; no thousands separators. `valid_from` (ISO 8601 with an offset) defaults to now; a valid_from in the past changes
the price orders of that time would have had, so it needs `backdate=True` (`--backdate`); orders
already invoiced keep their invoice. `valid_to` (in a `--history` export) restores a closed interval
exactly. A row equal to what is in force is a no-op, so importing an export changes nothing.
`source` (customer_price only): manual, import (default) or learned. Files are UTF-8, with or without
a byte-order mark. Import (`sync.pricing_import`) applies the good rows at once and reports the bad
ones; with strict=True any bad row means nothing is applied. Export: `sync.pricing_export`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from qb_pipeline.db.types import plain_decimal, price_text, reads_as_thousands
from qb_pipeline.sync import pricing
from qb_pipeline.sync.csv_layout import layout_problem

COLUMNS = ["kind", "customer", "price_level", "item", "price", "percent", "valid_from", "source"]
OPTIONAL_COLUMNS = ["valid_to"]
USES = {
    "customer_price": {"customer", "item", "price", "source"},
    "level_percent": {"price_level", "percent"},
    "level_item": {"price_level", "item", "price", "percent"},
    "assignment": {"customer", "price_level"},
}
KINDS = tuple(USES)
SOURCES = ("manual", "import", "learned")
END = "END"
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass
class ImportReport:
    applied: int = 0  # rows that changed something
    unchanged: int = 0  # rows equal to what is in force already
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    strict_rejected: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class PricingFileError(ValueError):
    """The file as a whole cannot be read (encoding, header); the message names the file and line."""


class _RowError(Exception):
    pass


def read_pricing_file(path: Path) -> str:
    """The file's text: UTF-8, with or without a byte-order mark, comma-separated and quoted right (csv_layout);
    anything else is refused by line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise PricingFileError(
            f"{path.name} line {line}: byte 0x{raw[error.start]:02x} is not UTF-8; save the file "
            'as UTF-8 (in Excel: "CSV UTF-8") and import it again'
        ) from None
    problem = layout_problem(text)
    if problem:
        raise PricingFileError(f"{path.name} {problem}")
    return text


def backdate_problem(at: datetime, now: datetime, backdate: bool) -> str | None:
    """Why a row that changes something from `at` is refused without --backdate, or None."""
    if at < now and not backdate:  # however recent: no grace
        return (
            f"valid_from {at.isoformat()} is in the past: it would change the price of orders of that "
            "time (those already invoiced keep their invoice). Leave valid_from empty to change it "
            "from now, or import with --backdate"
        )
    return None


def _header_problem(header: list[str]) -> str | None:
    if not header:
        return f"the file is empty: expected a header line ({','.join(COLUMNS)}) and rows"
    unknown = [name for name in header if name not in COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        return f"unknown column {unknown[0]!r} in the header (columns: {', '.join(COLUMNS + OPTIONAL_COLUMNS)})"
    if "kind" not in header:
        return f"the header has no 'kind' column (expected: {', '.join(COLUMNS)})"
    if len(set(header)) != len(header):
        return "a column appears twice in the header"
    return None


def _row(header: list[str], fields_: list[str]) -> dict[str, str]:
    if len(fields_) != len(header):
        raise _RowError(
            f"the row has {len(fields_)} fields, the header {len(header)} (a number written with a "
            "thousands separator, like 1,250.00, splits in two: write 1250.00)"
        )
    row = {name: cell.strip() for name, cell in zip(header, fields_, strict=True)}
    kind = row.get("kind", "").lower()
    if kind not in USES:
        raise _RowError(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    row["kind"] = kind
    unused = [
        name for name, value in row.items() if value and name not in USES[kind] | {"kind", "valid_from", "valid_to"}
    ]
    if unused:
        raise _RowError(f"{kind} does not use the {unused[0]} column: leave it empty")
    missing = [name for name in USES[kind] - {"source", "price", "percent"} if not row.get(name)]
    if missing:
        raise _RowError(f"{sorted(missing)[0]} is empty")
    if kind == "level_item" and bool(row.get("price")) == bool(row.get("percent")):
        raise _RowError("level_item needs a price or a percent (one of them; price=END ends the rule)")
    if kind in ("customer_price", "level_percent") and not row.get("price" if kind == "customer_price" else "percent"):
        what = "price" if kind == "customer_price" else "percent"
        raise _RowError(f"{what} is empty" + (" (write END to end the customer's price)" if what == "price" else ""))
    if kind == "level_percent" and row["percent"].upper() == END:
        raise _RowError(
            "percent END: a level_percent row cannot end a level's percent; give the new percent (0 for the "
            "items' own prices), or take customers off the level with assignment rows (price_level=END)"
        )
    return row


def _number(row: dict[str, str], column: str, *, percent: bool = False) -> Decimal | None:
    """A price or percent cell as Decimal: None for empty or END; one strict syntax everywhere."""
    raw = row.get(column, "")
    if not raw or raw.upper() == END:
        return None
    text = raw[:-1].strip() if percent and raw.endswith("%") else raw
    if not _NUMBER.fullmatch(text):
        raise _RowError(f"{column} {raw!r} is not a number (digits and one decimal point, like 1250.00)")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _RowError(f"{column} {raw!r} is not a number") from None
    if not percent and reads_as_thousands(value):
        raise _RowError(
            f"{column} {raw!r} reads like a number with a thousands separator: write "
            f"{price_text(value.normalize())} for that price, or {plain_decimal(value.scaleb(3))} without the point"
        )
    return pricing.check_percent(value) if percent else pricing.check_price(value)


def _instant(raw: str | None, default: datetime | None, what: str = "valid_from") -> datetime:
    raw = (raw or "").strip()
    if not raw:
        return default
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _RowError(f"{what} {raw!r} is not an ISO 8601 date-time (e.g. 2026-12-01T00:00:00+00:00)") from None
    if parsed.tzinfo is None:
        raise _RowError(f"{what} {raw!r} needs a time zone offset (e.g. 2026-12-01T00:00:00+00:00)")
    return parsed.astimezone(timezone.utc)

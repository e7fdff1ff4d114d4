"""What a pricing file changes, planned in memory: its rows applied in file order to the history they touch.

The history of every key the file touches is read once; the rows are applied to it with the rules of
`sync.pricing` (`replace_in_force`, `restore_interval`), so the result, and the reason for each bad
row, is the same as applying the rows one at a time. The plan is the new levels, the new intervals
and the new ends of existing ones.
"""

from __future__ import annotations

from bisect import insort
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import (
    CustomerItemPrice,
    CustomerPriceLevel,
    PriceLevel,
    PriceLevelItem,
    PriceLevelPercentage,
    PriceLevelType,
)
from qb_pipeline.db.names import name_key
from qb_pipeline.sync import pricing
from qb_pipeline.sync.companies import in_company
from qb_pipeline.sync.price_book import IN_LIST_CHUNK
from qb_pipeline.sync.pricing_csv import END, ImportReport, _RowError, backdate_problem
from qb_pipeline.sync.pricing_rows import Intent, Parsed

READ_ROWS = 5000  # history rows fetched at a time

# kind → (history table, the columns naming one key, the columns of its value)
HISTORY = {
    "customer_price": (CustomerItemPrice, ("customer_id", "item_id"), ("unit_price", "source")),
    "level_percent": (PriceLevelPercentage, ("price_level_id",), ("percent",)),
    "level_item": (PriceLevelItem, ("price_level_id", "item_id"), ("custom_price", "custom_percent")),
    "assignment": (CustomerPriceLevel, ("customer_id",), ("price_level_id",)),
}


@dataclass(slots=True)
class Interval:
    """One interval of a key's history in memory: read from the database (`id`) or planned (id None)."""

    valid_from: datetime | None = None
    valid_to: datetime | None = None
    unit_price: Decimal | None = None
    percent: Decimal | None = None
    custom_price: Decimal | None = None
    custom_percent: Decimal | None = None
    price_level_id: int | None = None
    source: str | None = None
    id: int | None = None
    stored_to: datetime | None = None  # valid_to as read: a difference is an update to write


@dataclass
class Level:
    id: int  # negative: created by this import
    name: str
    level_type: PriceLevelType


@dataclass
class Plan:
    """What the file changes: new levels, and the history of the keys it touches as the file leaves it,
    where an interval without an id is new and one whose valid_to differs from the stored one ends anew.
    The changes are read from it kind by kind (nothing else is kept: a 100,000-row file has 200,000)."""

    report: ImportReport
    placeholders: int = 0  # the last id given to a new level (-1, -2, …)
    new_levels: list[Level] = field(default_factory=list)
    history: dict[tuple, list[Interval]] = field(default_factory=dict)
    inserted: Counter[str] = field(default_factory=Counter)  # new intervals by kind
    updated: Counter[str] = field(default_factory=Counter)  # new ends by kind
    realm_id: str | None = None  # the company whose pricing it is (its new levels are that company's)

    @property
    def writes(self) -> int:
        return len(self.new_levels) + self.inserted.total() + self.updated.total()

    def inserts(self, kind: str) -> Iterator[tuple[tuple, Interval]]:
        """The kind's new intervals, each with its key (kind first)."""
        for key, rows in self.history.items():
            if key[0] == kind:
                yield from ((key, row) for row in rows if row.id is None)

    def updates(self, kind: str) -> Iterator[Interval]:
        """The kind's stored intervals that end anew (at their valid_to)."""
        for key, rows in self.history.items():
            if key[0] == kind:
                yield from (row for row in rows if row.id is not None and row.valid_to != row.stored_to)


def read_levels(session: Session, realm_id: str | None) -> dict[str, Level]:
    """Company `realm_id`'s price levels by name key."""
    return {
        key: Level(id_, name, level_type)
        for key, id_, name, level_type in session.execute(
            sa.select(PriceLevel.name_key, PriceLevel.id, PriceLevel.name, PriceLevel.level_type).where(
                in_company(PriceLevel, realm_id)
            )
        )
    }


def read_history(session: Session, parsed: Parsed, levels: dict[str, Level]) -> dict[tuple, list[Interval]]:
    """The intervals of every key the file touches that can matter to its rows, by key, by valid_from.

    An interval that ended at or before a kind's earliest row instant can matter to none of its rows
    (neither rule looks at an interval that ends by the row's instant), so only the open and later ones
    are read: a file without valid_from reads what is in force, not the whole of a grown history.
    """
    parents: dict[str, set[int]] = defaultdict(set)
    since: dict[str, datetime] = {}
    for intent in parsed.intents:
        if intent.kind in ("customer_price", "assignment"):
            parents[intent.kind].add(intent.customer_id)
        else:
            level = levels.get(name_key(intent.level_name))
            if level is not None:
                parents[intent.kind].add(level.id)
        since[intent.kind] = min(since.get(intent.kind, intent.at), intent.at)
    history: dict[tuple, list[Interval]] = defaultdict(list)
    connection = session.connection()  # Core rows, streamed: the ORM would gather each result first
    for kind, ids in parents.items():
        model, key_columns, value_columns = HISTORY[kind]
        keys, values = len(key_columns), [(name, {}) for name in value_columns]
        instants: dict = {}  # equal values read once: a history repeats its instants, prices and sources
        ids = sorted(ids)
        columns = [getattr(model, name) for name in ("id", "valid_from", "valid_to", *key_columns, *value_columns)]
        parent = getattr(model, key_columns[0])
        for start in range(0, len(ids), IN_LIST_CHUNK):
            statement = (
                sa.select(*columns)
                .where(
                    parent.in_(ids[start : start + IN_LIST_CHUNK]),
                    sa.or_(model.valid_to.is_(None), model.valid_to > since[kind]),
                )
                .execution_options(yield_per=READ_ROWS)  # PostgreSQL: a server-side cursor, not the whole result
            )
            for id_, valid_from, valid_to, *rest in connection.execute(statement):
                valid_to = instants.setdefault(valid_to, valid_to)
                row = Interval(instants.setdefault(valid_from, valid_from), valid_to, id=id_, stored_to=valid_to)
                for (name, same), value in zip(values, rest[keys:], strict=True):
                    setattr(row, name, same.setdefault(value, value))
                history[(kind, *rest[:keys])].append(row)
    for rows in history.values():
        rows.sort(key=_starts)
    return history


def _starts(row: Interval) -> datetime:
    return row.valid_from


def make_plan(
    parsed: Parsed,
    history: dict[tuple, list[Interval]],
    levels: dict[str, Level],
    *,
    now: datetime,
    backdate: bool,
    strict: bool,
) -> Plan:
    """Apply the rows in file order to the history in memory; a bad row leaves no trace of itself.
    Takes the rows out of `parsed`: each is let go once planned (the plan grows as they go)."""
    plan = Plan(ImportReport(errors=list(parsed.errors)))
    levels = dict(levels)
    report = plan.report
    intents, parsed.intents = parsed.intents, []
    for position, intent in enumerate(intents):
        intents[position] = None
        _plan_row(intent, history, levels, plan, now=now, backdate=backdate)
    report.errors.sort(key=lambda error: error[0])
    if strict and report.errors:
        report.strict_rejected, report.applied = True, 0
        return Plan(report)
    for key, rows in history.items():
        for row in rows:
            if row.id is None:
                plan.inserted[key[0]] += 1
            elif row.valid_to != row.stored_to:
                plan.updated[key[0]] += 1
    plan.history = history
    return plan


def _plan_row(
    intent: Intent,
    history: dict[tuple, list[Interval]],
    levels: dict[str, Level],
    plan: Plan,
    *,
    now: datetime,
    backdate: bool,
) -> None:
    """One row applied and counted; a bad one undone (a level it created as well) and its reason reported."""
    created = None
    try:
        key, new, created = _target(intent, levels, plan)
        if _apply(intent, history[key], new, now=now, backdate=backdate):
            plan.report.applied += 1
        else:
            plan.report.unchanged += 1
    except (_RowError, pricing.PricingError) as error:
        if created is not None:
            del levels[name_key(created.name)]
            plan.new_levels.remove(created)
        plan.report.errors.append((intent.line, str(error)))


def _apply(intent: Intent, rows: list[Interval], new: Interval | None, *, now: datetime, backdate: bool) -> bool:
    """Whether the row changed its key's history (`rows`); a row refused for backdating changes nothing."""
    before = [(row, row.valid_to) for row in rows]
    if intent.until is not None:
        if new is None:
            raise pricing.PricingError("a closed interval needs a value and a valid_from")
        changed = pricing.restore_interval(rows, new, intent.at, intent.until)
    else:
        changed = pricing.replace_in_force(
            rows, intent.at, new, lambda row: pricing.values_of(row) == pricing.values_of(new)
        )
    problem = backdate_problem(intent.at, now, backdate) if changed else None
    if problem:
        for row, valid_to in before:
            row.valid_to = valid_to
        raise _RowError(problem)
    if changed and new is not None:
        insort(rows, new, key=_starts)
    return changed


def _target(intent: Intent, levels: dict[str, Level], plan: Plan) -> tuple[tuple, Interval | None, Level | None]:
    """The key a row sets, its new interval (None: it ends the value), and the level it created."""
    kind, created = intent.kind, None
    if kind == "customer_price":
        new = None if intent.price is None else Interval(unit_price=intent.price, source=intent.source)
        return (kind, intent.customer_id, intent.item_id), new, None
    if kind == "assignment":
        if intent.level_name.upper() == END:
            return (kind, intent.customer_id), None, None
        level, created = _level(intent, levels, None, plan)
        return (kind, intent.customer_id), Interval(price_level_id=level.id), created
    wanted = PriceLevelType.FIXED_PERCENTAGE if kind == "level_percent" else PriceLevelType.PER_ITEM
    level, created = _level(intent, levels, wanted, plan)
    if kind == "level_percent":
        return (kind, level.id), Interval(percent=intent.percent), created
    if intent.item_error:
        raise _RowError(intent.item_error)  # the level (if new) is undone with the row
    new = None
    if intent.price is not None or intent.percent is not None:
        new = Interval(custom_price=intent.price, custom_percent=intent.percent)
    return (kind, level.id, intent.item_id), new, created


def _level(
    intent: Intent, levels: dict[str, Level], level_type: PriceLevelType | None, plan: Plan
) -> tuple[Level, Level | None]:
    """The named level; a new one (negative id until written) for a row that defines it."""
    name, key = intent.level_name, name_key(intent.level_name)
    level = levels.get(key)
    if level is None:
        if level_type is None:
            raise _RowError(f"price level {name!r} does not exist (define it with level_percent or level_item rows)")
        plan.placeholders -= 1
        level = Level(plan.placeholders, name, level_type)
        levels[key] = level
        plan.new_levels.append(level)
        return level, level
    if level_type is not None and level.level_type != level_type:
        raise _RowError(f"price level {name!r} is {level.level_type.value}, not {level_type.value}")
    return level, None


def row_values(key: tuple, row: Interval, real_level_ids: dict[int, int]) -> dict:
    """The columns of a new interval of `key` (kind first), a level created by the import given its real
    id when known."""
    _model, key_columns, value_columns = HISTORY[key[0]]
    values = dict(zip(key_columns, key[1:], strict=True))
    values.update({name: getattr(row, name) for name in value_columns})
    values.update(valid_from=row.valid_from, valid_to=row.valid_to)
    level = values.get("price_level_id")
    if level is not None and level < 0:
        values["price_level_id"] = real_level_ids.get(level, level)
    return values

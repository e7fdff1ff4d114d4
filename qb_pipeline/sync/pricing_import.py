"""Applying a pricing file (its format and row rules: `sync.pricing_csv`): check, plan in memory, write.

Every row is checked, then planned in file order against the history of the keys the file touches,
read once, with the rules of `sync.pricing` (`replace_in_force`, `restore_interval`): the same
result, and the same reason for each bad row, as applying the rows one at a time.

- `import_pricing(session, …)` writes the plan in the caller's transaction.
- `import_pricing_file(engine, …)` (the CLI, the drop folder) stages the plan in chunks, each its own
  short transaction, then swaps it into the history in one short transaction: a push waits a moment,
  never the whole import, and the file is applied all or nothing (`sync.pricing_stage`).

Writers of one customer's or price level's pricing queue on its `pricing_locks` row, taken in sorted
order. The swap takes them and checks their versions: when a key the plan read has changed since
(another import at the same time), the plan is made again under the locks against the history as
it is now — so two imports never both close one price, with or without PostgreSQL's exclusion
constraint, and a clash becomes a row error, never a traceback.
"""

from __future__ import annotations

import csv
import io
from bisect import insort
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

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
from qb_pipeline.db.names import name_key
from qb_pipeline.sync import pricing
from qb_pipeline.sync.price_book import IN_LIST_CHUNK
from qb_pipeline.sync.pricing_csv import (
    END,
    SOURCES,
    ImportReport,
    _header_problem,
    _identity,
    _instant,
    _number,
    _row,
    _RowError,
    backdate_problem,
)

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
class Level:
    id: int  # negative: created by this import
    name: str
    level_type: PriceLevelType


@dataclass
class Parsed:
    intents: list[Intent] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Plan:
    """What the file changes: new levels, new intervals and new ends of existing ones, per kind."""

    report: ImportReport
    placeholders: int = 0  # the last id given to a new level (-1, -2, …)
    new_levels: list[Level] = field(default_factory=list)
    inserts: dict[str, list[tuple[tuple, Interval]]] = field(default_factory=lambda: defaultdict(list))
    updates: dict[str, list[tuple[int, datetime | None]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def writes(self) -> int:
        return len(self.new_levels) + sum(map(len, self.inserts.values())) + sum(map(len, self.updates.values()))


def import_pricing(
    session: Session,
    source: str | io.TextIOBase,
    *,
    strict: bool = False,
    backdate: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Check every row, then apply the good ones (all or nothing when `strict`) in `session`'s transaction."""
    now = now or datetime.now(timezone.utc)
    text = source if isinstance(source, str) else source.read()
    parsed = parse_rows(text, now, lambda: read_names(session))
    if isinstance(parsed, ImportReport):
        return parsed
    plan = plan_locked(session, parsed, now=now, backdate=backdate, strict=strict)
    write_plan(session, plan)
    return plan.report


def read_names(session: Session) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Customer and item ids by name key, as rows name them."""
    return _name_ids(session, Customer), _name_ids(session, Item)


def parse_rows(text: str, now: datetime, names: Callable[[], tuple[dict, dict]]) -> Parsed | ImportReport:
    """Every row's own checks, in file order (an ImportReport when the header is wrong); `names` reads
    them (`read_names`) once the header is right."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    problem = _header_problem(header)
    if problem:
        return ImportReport(errors=[(1, problem)])
    customers, items = names()
    parsed = Parsed()
    seen: dict[tuple, tuple[int, tuple]] = {}  # what a row sets → (its line, the values it sets)
    for fields_ in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in fields_):
            continue
        try:
            row = _row(header, fields_)
            target, values = _identity(row, now)
            if target in seen and seen[target][1] != values:
                raise _RowError(
                    f"conflicts with line {seen[target][0]}: the same {target[0]} for the same names "
                    "and valid_from with a different value; keep one of them"
                )
            seen.setdefault(target, (line, values))  # the file contradicts itself even if that row fails
            parsed.intents.append(_intent(line, row, now, customers, items))
        except (_RowError, pricing.PricingError) as error:
            parsed.errors.append((line, str(error)))
    return parsed


def _intent(line: int, row: dict[str, str], now: datetime, customers: dict, items: dict) -> Intent:
    kind = row["kind"]
    at = _instant(row.get("valid_from"), now)
    until = _instant(row.get("valid_to"), None, "valid_to") if row.get("valid_to") else None
    if until is not None and until <= at:
        raise _RowError(
            f"valid_to {until.isoformat()} is not after valid_from {at.isoformat()}: nothing would be in force"
        )
    intent = Intent(line, kind, at, until, level_name=row.get("price_level") or None)
    if kind in ("customer_price", "assignment"):
        intent.customer_id = _find(customers, row, "customer")
    if kind == "customer_price":
        intent.item_id = _find(items, row, "item")
        intent.source = (row.get("source") or "import").lower()
        if intent.source not in SOURCES:
            raise _RowError(f"source {intent.source!r} is not one of {', '.join(SOURCES)}")
    if kind == "level_item":
        try:
            intent.item_id = _find(items, row, "item")
        except _RowError as error:
            intent.item_error = str(error)
    intent.price = _number(row, "price") if kind in ("customer_price", "level_item") else None
    intent.percent = _number(row, "percent", percent=True) if kind in ("level_percent", "level_item") else None
    return intent


def _name_ids(session: Session, model) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for key, id_ in session.execute(sa.select(model.name_key, model.id)):
        found[key].append(id_)
    return found


def _find(ids_by_key: dict[str, list[int]], row: dict[str, str], what: str) -> int:
    name = row[what]
    found = ids_by_key.get(name_key(name), [])
    if len(found) != 1:
        raise _RowError(f"{what} {name!r} " + (f"is not in the {what} list" if not found else "is ambiguous"))
    return found[0]


def read_levels(session: Session) -> dict[str, Level]:
    return {
        key: Level(id_, name, level_type)
        for key, id_, name, level_type in session.execute(
            sa.select(PriceLevel.name_key, PriceLevel.id, PriceLevel.name, PriceLevel.level_type)
        )
    }


def lock_keys(parsed: Parsed, levels: dict[str, Level]) -> list[str]:
    """The pricing_locks rows of what the file touches, sorted (every writer takes them in this order)."""
    keys = set()
    for intent in parsed.intents:
        if intent.customer_id is not None:
            keys.add(f"customer:{intent.customer_id}")
        if intent.kind in ("level_percent", "level_item") or (intent.level_name or END).upper() != END:
            level = levels.get(name_key(intent.level_name))
            keys.add(f"price_level:{level.id}" if level else f"level_name:{name_key(intent.level_name)}")
    return sorted(keys)


def plan_locked(session: Session, parsed: Parsed, *, now: datetime, backdate: bool, strict: bool) -> Plan:
    """Take the file's locks, then plan against the history as it is: nobody changes it until commit."""
    levels = read_levels(session)
    held: set[str] = set()
    while True:
        keys = [key for key in lock_keys(parsed, levels) if key not in held]
        if not keys:
            break
        take_locks(session, keys)
        held.update(keys)
        levels = read_levels(session)  # a level created while we queued is locked by its id too
    return make_plan(parsed, read_history(session, parsed, levels), levels, now=now, backdate=backdate, strict=strict)


def take_locks(session: Session, keys: list[str]) -> dict[str, int]:
    """Bump each lock's version (creating it at 1), in the given order; on PostgreSQL each row stays
    locked until commit. Returns the versions after the bump."""
    from qb_pipeline.db.pricing_imports import PricingLock

    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(PricingLock).on_conflict_do_update(
        index_elements=["lock_key"], set_={"version": PricingLock.version + 1}
    )
    for start in range(0, len(keys), IN_LIST_CHUNK):
        session.execute(statement, [{"lock_key": key, "version": 1} for key in keys[start : start + IN_LIST_CHUNK]])
    return read_versions(session, keys)


def read_versions(session: Session, keys: list[str]) -> dict[str, int]:
    from qb_pipeline.db.pricing_imports import PricingLock

    versions = dict.fromkeys(keys, 0)
    for start in range(0, len(keys), IN_LIST_CHUNK):
        chunk = keys[start : start + IN_LIST_CHUNK]
        versions.update(
            session.execute(
                sa.select(PricingLock.lock_key, PricingLock.version).where(PricingLock.lock_key.in_(chunk))
            ).all()
        )
    return versions


def read_history(session: Session, parsed: Parsed, levels: dict[str, Level]) -> dict[tuple, list[Interval]]:
    """The intervals of every key the file touches, by key, ordered by valid_from."""
    parents: dict[str, set[int]] = defaultdict(set)
    for intent in parsed.intents:
        if intent.kind in ("customer_price", "assignment"):
            parents[intent.kind].add(intent.customer_id)
        else:
            level = levels.get(name_key(intent.level_name))
            if level is not None:
                parents[intent.kind].add(level.id)
    history: dict[tuple, list[Interval]] = defaultdict(list)
    for kind, ids in parents.items():
        model, key_columns, value_columns = HISTORY[kind]
        columns = [getattr(model, name) for name in ("id", "valid_from", "valid_to", *key_columns, *value_columns)]
        ids = sorted(ids)
        for start in range(0, len(ids), IN_LIST_CHUNK):
            parent = getattr(model, key_columns[0])
            statement = sa.select(*columns).where(parent.in_(ids[start : start + IN_LIST_CHUNK]))
            for found in session.execute(statement):
                id_, valid_from, valid_to, *rest = found
                key = (kind, *rest[: len(key_columns)])
                values = dict(zip(value_columns, rest[len(key_columns) :]))
                history[key].append(Interval(valid_from, valid_to, id=id_, stored_to=valid_to, **values))
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
    """Apply the rows in file order to the history in memory; a bad row leaves no trace of itself."""
    plan = Plan(ImportReport(errors=list(parsed.errors)))
    levels = dict(levels)
    report = plan.report
    for intent in parsed.intents:
        created = None
        try:
            key, new, created = _target(intent, levels, plan)
            rows = history[key]
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
            if changed:
                report.applied += 1
            else:
                report.unchanged += 1
        except (_RowError, pricing.PricingError) as error:
            if created is not None:
                del levels[name_key(created.name)]
                plan.new_levels.remove(created)
            report.errors.append((intent.line, str(error)))
    report.errors.sort(key=lambda error: error[0])
    if strict and report.errors:
        report.strict_rejected, report.applied = True, 0
        return Plan(report)
    for key, rows in history.items():
        for row in rows:
            if row.id is None:
                plan.inserts[key[0]].append((key[1:], row))
            elif row.valid_to != row.stored_to:
                plan.updates[key[0]].append((row.id, row.valid_to))
    return plan


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


def level_ids(session: Session, plan: Plan) -> dict[int, int]:
    """Create the plan's new levels: placeholder id → real id."""
    created = {}
    for level in plan.new_levels:
        row = PriceLevel(name=level.name, level_type=level.level_type)
        session.add(row)
        session.flush()
        created[level.id] = row.id
    return created


def write_plan(session: Session, plan: Plan) -> None:
    """Write the plan in `session`'s transaction: new ends first, so no two intervals overlap even for an instant."""
    real = level_ids(session, plan)
    for kind, updates in plan.updates.items():
        model = HISTORY[kind][0]
        for start in range(0, len(updates), 5000):
            session.execute(
                sa.update(model), [{"id": id_, "valid_to": to} for id_, to in updates[start : start + 5000]]
            )
    for kind, rows in plan.inserts.items():
        for start in range(0, len(rows), 5000):
            session.execute(
                sa.insert(HISTORY[kind][0]),
                [row_values(kind, key, row, real) for key, row in rows[start : start + 5000]],
            )


def row_values(kind: str, key: tuple, row: Interval, real_level_ids: dict[int, int]) -> dict:
    """The columns of a new interval, a level created by the import given its real id when known."""
    _model, key_columns, value_columns = HISTORY[kind]
    values = dict(zip(key_columns, key))
    values.update({name: getattr(row, name) for name in value_columns})
    values.update(valid_from=row.valid_from, valid_to=row.valid_to)
    level = values.get("price_level_id")
    if level is not None and level < 0:
        values["price_level_id"] = real_level_ids.get(level, level)
    return values

"""Running a parsed query (sandbox/query.py) over a company's records: which rows match, in which order, and
the page asked for."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from qb_pipeline.sandbox.query import INSTANT_PATHS, NAME_LISTS, REF_SUBKEY, Condition, Query, QueryResult
from qb_pipeline.sandbox.store import COMPANY_TZ


def _field(row: dict, path: tuple[str, ...]) -> object:
    value: object = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, dict):  # a Ref or an address: compare its value
        value = value.get(REF_SUBKEY.get(path[-1], "value"))
    return value


def _instant(value: object) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=COMPANY_TZ)


def _key(path: tuple[str, ...], value: object) -> object:
    """A comparable form of a stored or queried value for this path."""
    if value is None:
        return None
    if path in INSTANT_PATHS:
        return _instant(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value)
    if path[-1] in ("Id", "TotalAmt", "Balance", "UnitPrice") or path[-1].endswith("Ref"):
        try:
            return Decimal(text)
        except InvalidOperation:
            pass
    if text.lower() in ("true", "false") and path[-1] in ("Active", "Job"):
        return text.lower() == "true"
    return text.lower()


def _compile(condition: Condition) -> Callable[[dict], bool]:
    path, op = condition.path, condition.op
    if op == "IN":
        wanted = {_key(path, v) for v in condition.value}
        return lambda row: _key(path, _field(row, path)) in wanted
    if op == "LIKE":
        pattern = re.compile(
            "^" + ".*".join(re.escape(part) for part in str(condition.value).lower().split("%")) + "$", re.S
        )
        return lambda row: (v := _field(row, path)) is not None and bool(pattern.match(str(v).lower()))
    target = _key(path, condition.value)
    compare = {
        "=": lambda a: a == target,
        "<": lambda a: a < target,
        ">": lambda a: a > target,
        "<=": lambda a: a <= target,
        ">=": lambda a: a >= target,
    }[op]

    def matches(row: dict) -> bool:
        value = _key(path, _field(row, path))
        if value is None or target is None:
            return False
        try:
            return compare(value)
        except TypeError:  # e.g. a string compared with a number
            return False

    return matches


def matching(query: Query, rows: Iterable[dict]) -> list[dict]:
    """Every row the query selects, in its ORDERBY order (rows arrive in ascending Id order)."""
    predicates = [_compile(c) for c in query.conditions]
    if query.entity in NAME_LISTS and not any(c.path == ("Active",) for c in query.conditions):
        predicates.append(lambda row: row.get("Active", True) is not False)
    matched = [row for row in rows if all(p(row) for p in predicates)] if predicates else list(rows)
    for path, descending in reversed(query.order_by):
        if path == ("Id",) and not descending:
            continue  # already in Id order
        present = [r for r in matched if _key(path, _field(r, path)) is not None]
        missing = [r for r in matched if _key(path, _field(r, path)) is None]
        present.sort(key=lambda r: _key(path, _field(r, path)), reverse=descending)
        matched = missing + present if not descending else present + missing
    return matched


def page_of(query: Query, matched: list[dict]) -> QueryResult:
    """The requested page of `matching`'s answer, or its count."""
    if query.count:
        return QueryResult([], len(matched), query.start_position, query.max_results)
    start = query.start_position - 1
    return QueryResult(
        matched[start : start + query.max_results], len(matched), query.start_position, query.max_results
    )


def execute(query: Query, rows: Iterable[dict]) -> QueryResult:
    return page_of(query, matching(query, rows))

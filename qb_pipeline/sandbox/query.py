"""The QuickBooks Online query language, as the sandbox understands it.

    SELECT * | COUNT(*) FROM Entity
      [WHERE path op value [AND path op value]...]
      [ORDERBY | ORDER BY path [ASC|DESC] [, ...]]
      [STARTPOSITION n] [MAXRESULTS n]

Operators `= < > <= >= IN LIKE` (LIKE with `%` only, case-insensitive). No OR, JOIN, GROUP BY or
projections (→ 4000). Keywords, entity and property names are case-insensitive; an unknown entity or
property → 4001. Strings are single-quoted with backslash escapes (`'O\\'Brien'`, as python-quickbooks
writes them). STARTPOSITION is 1-based (values below 1 count as 1); MAXRESULTS defaults to 100 and is
capped at 1000 silently, as QBO does. A trailing semicolon is accepted.

Choices where QBO's behaviour is not documented: string comparison is case-insensitive for every
property; MetaData times compare as instants (a value without an offset is read as UTC-8, the
sandbox company's zone); rows missing the ordered property sort first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from qb_pipeline.sandbox.company import QUERY_ENTITIES
from qb_pipeline.sandbox.store import COMPANY_TZ

DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS = 100, 1000

_COMMON = ("Id", "MetaData.CreateTime", "MetaData.LastUpdatedTime")
_NAMED = _COMMON + ("Name", "Active")
_PERSON = _COMMON + ("DisplayName", "GivenName", "FamilyName", "CompanyName", "Active", "PrimaryEmailAddr")
_TRANSACTION = _COMMON + ("DocNumber", "TxnDate", "TotalAmt", "CustomerRef", "VendorRef")
_NAMED_ENTITIES = {
    "Class",
    "Department",
    "Term",
    "PaymentMethod",
    "TaxCode",
    "TaxRate",
    "CustomerType",
    "JournalCode",
    "Budget",
    "TaxClassification",
}
QUERYABLE: dict[str, tuple[str, ...]] = {
    # Every name QBO's query accepts answers (empty where the sandbox holds no rows), with the
    # properties clients filter on most; the entities the sandbox really serves are listed below.
    **{entity: _COMMON for entity in QUERY_ENTITIES},
    **{entity: _NAMED for entity in _NAMED_ENTITIES},
    **{entity: _PERSON for entity in ("Vendor", "Employee")},
    **{
        entity: _TRANSACTION
        for entity in (
            "Bill",
            "BillPayment",
            "CreditMemo",
            "Deposit",
            "Estimate",
            "JournalEntry",
            "Payment",
            "Purchase",
            "PurchaseOrder",
            "RefundReceipt",
            "SalesReceipt",
            "Transfer",
            "VendorCredit",
            "CreditCardPayment",
        )
    },
    "Customer": _COMMON
    + (
        "DisplayName",
        "GivenName",
        "FamilyName",
        "MiddleName",
        "CompanyName",
        "PrimaryEmailAddr",
        "PrimaryPhone",
        "Active",
        "Balance",
        "FullyQualifiedName",
        "Job",
        "ParentRef",
    ),
    "Item": _COMMON + ("Name", "Active", "Type", "Sku", "FullyQualifiedName", "UnitPrice", "ParentRef"),
    "Invoice": _COMMON + ("DocNumber", "TxnDate", "DueDate", "CustomerRef", "TotalAmt", "Balance"),
    "Account": _COMMON + ("Name", "AccountType", "AccountSubType", "Active", "Classification", "FullyQualifiedName"),
    "CompanyInfo": _COMMON + ("CompanyName",),
}
# Name lists answer active rows only, unless the query mentions Active.
NAME_LISTS = {"Customer", "Item", "Account", "Vendor", "Employee"} | _NAMED_ENTITIES
_ENTITY_BY_LOWER = {name.lower(): name for name in QUERYABLE}
_INSTANT_PATHS = {("MetaData", "CreateTime"), ("MetaData", "LastUpdatedTime")}
_REF_SUBKEY = {"PrimaryEmailAddr": "Address", "PrimaryPhone": "FreeFormNumber"}


class QueryError(Exception):
    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(f"{message}: {detail}")
        self.code, self.message, self.detail = code, message, detail


def _parse_error(detail: str) -> QueryError:
    return QueryError("4000", "Error parsing query", f"QueryParserError: {detail}")


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    op: str
    value: object


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    conditions: tuple[Condition, ...]
    order_by: tuple[tuple[tuple[str, ...], bool], ...]
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


@dataclass
class QueryResult:
    rows: list[dict]
    total: int
    start_position: int
    max_results: int


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*;])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            break
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "bad":
            if value == "'":
                raise _parse_error(f"Unterminated string starting at character {match.start(kind) + 1}")
            raise _parse_error(f'Encountered "{value}" at character {match.start(kind) + 1}')
        tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise _parse_error(f'Expected "{word}" but encountered {self._shown()}')

    def expect(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise _parse_error(f"Expected {value or kind} but encountered {self._shown()}")
        self.i += 1
        return token[1]

    def integer(self) -> int:
        shown = self._shown()
        text = self.expect("number")
        if not text.lstrip("-").isdigit():
            raise _parse_error(f"Expected a whole number but encountered {shown}")
        return int(text)

    def _shown(self) -> str:
        token = self.peek()
        return f'"{token[1]}"' if token else "end of query"

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        count = self._count_or_star()
        self.expect_keyword("FROM")
        entity = self._entity()
        conditions = self._where(entity)
        order_by = self._order_by(entity)
        start, maximum = 1, DEFAULT_MAX_RESULTS
        if self.keyword("STARTPOSITION"):
            start = max(1, self.integer())
        if self.keyword("MAXRESULTS"):
            maximum = min(max(1, self.integer()), MAX_MAX_RESULTS)
        if self.peek() == ("punct", ";"):
            self.i += 1
        if self.peek() is not None:
            raise _parse_error(f"Encountered {self._shown()} at token {self.i + 1}")
        return Query(entity, count, conditions, order_by, start, maximum)

    def _count_or_star(self) -> bool:
        """`COUNT(*)` (True) or `*`."""
        if self.keyword("COUNT"):
            self.expect("punct", "(")
            self.expect("punct", "*")
            self.expect("punct", ")")
            return True
        self.expect("punct", "*")
        return False

    def _entity(self) -> str:
        entity_word = self.expect("word")
        entity = _ENTITY_BY_LOWER.get(entity_word.lower())
        if entity is None:
            raise QueryError("4001", "Invalid query", f'QueryValidationError: Entity "{entity_word}" is not supported')
        return entity

    def _where(self, entity: str) -> tuple[Condition, ...]:
        conditions: list[Condition] = []
        if self.keyword("WHERE"):
            conditions.append(self.condition(entity))
            while self.keyword("AND"):
                conditions.append(self.condition(entity))
            if self.peek() and self.peek()[1].upper() == "OR":
                raise _parse_error('Encountered "OR": OR is not supported')
        return tuple(conditions)

    def _order_by(self, entity: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
        """`ORDER BY` (or QuickBooks' `ORDERBY`) field [DESC|ASC], …: (path, descending) each."""
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
        elif not self.keyword("ORDERBY"):
            return ()
        order_by: list[tuple[tuple[str, ...], bool]] = []
        while True:
            path = _resolve(entity, self.expect("word"))
            descending = self.keyword("DESC")
            if not descending:
                self.keyword("ASC")
            order_by.append((path, descending))
            if self.peek() != ("punct", ","):
                return tuple(order_by)
            self.i += 1

    def condition(self, entity: str) -> Condition:
        path = _resolve(entity, self.expect("word"))
        if self.keyword("IN"):
            self.expect("punct", "(")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.i += 1
                values.append(self.value())
            self.expect("punct", ")")
            return Condition(path, "IN", tuple(values))
        if self.keyword("LIKE"):
            value = self.value()
            if not isinstance(value, str):
                raise _parse_error("LIKE needs a quoted string")
            return Condition(path, "LIKE", value)
        op = self.expect("op")
        if op in ("!=", "<>"):
            raise _parse_error(f'Encountered "{op}": operator not supported')
        return Condition(path, op, self.value())

    def value(self) -> object:
        token = self.peek()
        if token is None:
            raise _parse_error("Expected a value but encountered end of query")
        self.i += 1
        kind, text = token
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _parse_error(f'Encountered "{text}" where a value was expected')


def _resolve(entity: str, word: str) -> tuple[str, ...]:
    for canonical in QUERYABLE[entity]:
        if canonical.lower() == word.lower():
            return tuple(canonical.split("."))
    raise QueryError("4001", "Invalid query", f"QueryValidationError: property '{word}' is not queryable for {entity}")


def parse_query(text: str) -> Query:
    return _Parser(text).parse()


# Evaluation -------------------------------------------------------------------------------------


def _field(row: dict, path: tuple[str, ...]) -> object:
    value: object = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, dict):  # a Ref or an address: compare its value
        value = value.get(_REF_SUBKEY.get(path[-1], "value"))
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
    if path in _INSTANT_PATHS:
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

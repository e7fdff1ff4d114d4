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
from dataclasses import dataclass
from decimal import Decimal

from qb_pipeline.sandbox.company import QUERY_ENTITIES

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
INSTANT_PATHS = {("MetaData", "CreateTime"), ("MetaData", "LastUpdatedTime")}
REF_SUBKEY = {"PrimaryEmailAddr": "Address", "PrimaryPhone": "FreeFormNumber"}


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

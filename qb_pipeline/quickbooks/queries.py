"""The statements of QuickBooks' query language we send, built in one place: every literal escaped,
never pasted raw, and inactive records asked for wherever the entity has an `Active` flag (a query
that does not ask leaves them out silently)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

from qb_pipeline.core.quickbooks_entities import entity_named

PAGE_SIZE = 1000  # QuickBooks' largest MAXRESULTS
IN_LIST_SIZE = 100  # values in one `IN (…)`: keeps each query short
INCOME_ACCOUNT = "SELECT * FROM Account WHERE AccountType = 'Income' ORDERBY Id MAXRESULTS 1"


def quote(value: str) -> str:
    """A QBO query string literal: backslashes and quotes escaped, never pasted raw."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_instant(value: datetime) -> str:
    """An instant in QBO's query/CDC format, with an explicit UTC offset."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def where(entity: str, updated_since: datetime | None = None) -> str:
    """Every record of `entity` (inactive ones too), or those updated at or after `updated_since`."""
    conditions = ["Active IN (true, false)"] if entity_named(entity).has_active else []
    if updated_since is not None:
        conditions.append(f"MetaData.LastUpdatedTime >= {quote(format_instant(updated_since))}")
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def page(entity: str, where_clause: str, position: int) -> str:
    """One page, in Id order (so pages read at once fit together), from the 1-based `position`."""
    return f"SELECT * FROM {entity}{where_clause} ORDERBY Id STARTPOSITION {position} MAXRESULTS {PAGE_SIZE}"


def count(entity: str, where_clause: str) -> str:
    return f"SELECT COUNT(*) FROM {entity}{where_clause}"


def by_name(entity: str, name: str) -> str:
    """The record with this unique name (DisplayName, Name…), active or not."""
    return f"SELECT * FROM {entity} WHERE {entity_named(entity).name_field} = {quote(name)} AND Active IN (true, false)"


def invoices_numbered(doc_numbers: Sequence[str]) -> str:
    return f"SELECT * FROM Invoice WHERE DocNumber IN ({_listed(doc_numbers)}) MAXRESULTS {PAGE_SIZE}"


def with_ids(entity: str, ids: Sequence[str]) -> str:
    return f"SELECT * FROM {entity} WHERE Id IN ({_listed(ids)}) MAXRESULTS {PAGE_SIZE}"


def in_lists(values: Sequence[str]) -> Iterator[list[str]]:
    """`values` in runs short enough for one `IN (…)` each."""
    for start in range(0, len(values), IN_LIST_SIZE):
        yield list(values[start : start + IN_LIST_SIZE])


def _listed(values: Sequence[str]) -> str:
    return ", ".join(quote(value) for value in values)

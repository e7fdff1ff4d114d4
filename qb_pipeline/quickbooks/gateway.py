"""The only caller of python-quickbooks: implements `core.port.QuickBooksPort` over a `Connection`.

It composes the parts, each in its own module: the retry rules every call goes through (retry.py), the
query statements (queries.py), the prefetching paginator (paging.py), change data capture (cdc.py),
batch writes (batch.py) and the company's preferences, read once (preferences.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo

from quickbooks.mixins import DecimalEncoder

from qb_pipeline.core import defaults
from qb_pipeline.core.port import ChangeSet, InvoiceNumbering, WriteOutcome
from qb_pipeline.quickbooks import cdc, queries
from qb_pipeline.quickbooks.batch import BatchWriter
from qb_pipeline.quickbooks.connection import Connection
from qb_pipeline.quickbooks.paging import PAGES_IN_FLIGHT, PrefetchingPaginator
from qb_pipeline.quickbooks.preferences import CompanyPreferences
from qb_pipeline.quickbooks.retry import QuickBooksCalls, RetryRules
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.quickbooks.throttle import Throttle


class _PartSetting:
    """A gateway setting kept by one of its parts, read and set on the gateway as its own attribute
    (tests, drills and benchmarks tune a gateway after building it)."""

    def __init__(self, *path: str) -> None:
        self.path = path  # attribute names from the gateway to the part, e.g. ("calls", "rules")

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _part(self, gateway: QuickBooksGateway) -> object:
        part: object = gateway
        for name in self.path:
            part = getattr(part, name)
        return part

    def __get__(self, gateway: QuickBooksGateway | None, owner: type | None = None):
        return self if gateway is None else getattr(self._part(gateway), self.name)

    def __set__(self, gateway: QuickBooksGateway, value: object) -> None:
        setattr(self._part(gateway), self.name, value)


class QuickBooksGateway:
    retries = _PartSetting("calls", "rules")
    backoff_base = _PartSetting("calls", "rules")
    backoff_max = _PartSetting("calls", "rules")
    throttle_wait = _PartSetting("calls", "rules")
    sleep = _PartSetting("calls", "rules")
    throttle = _PartSetting("calls")
    stats = _PartSetting("calls")  # a gateway per asset counts its own calls
    progress = _PartSetting("calls")

    def __init__(
        self,
        connection: Connection,
        *,
        retries: int = defaults.RETRIES,
        batch_size: int = defaults.BATCH_SIZE,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        throttle_wait: float = defaults.THROTTLE_WAIT_SECONDS,
        throttle: Throttle | None = None,
        pages_in_flight: int = PAGES_IN_FLIGHT,
        stats: CallStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = lambda _m: None,
        company_timezone: str = "",
        change_feed: cdc.ChangeFeed | None = None,
    ) -> None:
        self.connection, self.realm_id, self.pages_in_flight = connection, connection.realm_id, pages_in_flight
        rules = RetryRules(retries, backoff_base, backoff_max, throttle_wait, sleep)
        self.calls = QuickBooksCalls(connection, throttle or Throttle(), stats or connection.stats, rules, progress)
        self.batches = BatchWriter(self.calls, batch_size)
        self.preferences = CompanyPreferences(self.calls, company_timezone)  # QB_COMPANY_TIMEZONE, or ""
        self.change_feed = change_feed or cdc.ChangeFeed()  # a run's assets share one (QuickBooksResource)

    @property
    def batch_size(self) -> int:
        return self.batches.batch_size

    @property
    def request_limit_seconds(self) -> float:
        return self.throttle.abandoned_hold_seconds

    # -- reads -------------------------------------------------------------------------------------
    def query(self, text: str, what: str = "query") -> dict:
        return self.calls.call("query", what, lambda qb: qb.query(text), expect="QueryResponse")["QueryResponse"]

    def query_pages(self, entity: str, *, updated_since: datetime | None = None) -> Iterator[list[dict]]:
        """Every record (of those updated since `updated_since`), in Id order, page after page, several
        pages requested at once (paging.py)."""
        where = queries.where(entity, updated_since)

        def read_page(position: int) -> list[dict]:
            text = queries.page(entity, where, position)
            return self.query(text, f"reading {entity} records").get(entity, [])

        return iter(
            PrefetchingPaginator(
                read_page,
                lambda: self._count(entity, where),
                page_size=queries.PAGE_SIZE,
                in_flight=self.pages_in_flight,
                thread_name=f"qbo-{entity}-page",
            )
        )

    def count(self, entity: str) -> int:
        return self._count(entity, queries.where(entity))

    def _count(self, entity: str, where: str) -> int:
        return int(self.query(queries.count(entity, where), f"counting {entity}").get("totalCount", 0))

    def changes_since(
        self, entity: str, since: datetime, *, together_with: Mapping[str, datetime] | None = None
    ) -> ChangeSet:
        return self.change_feed.changes_since(self.calls, entity, since, together_with)

    def find_by_name(self, entity: str, name: str) -> dict | None:
        rows = self.query(queries.by_name(entity, name), f"looking up {entity} {name!r}").get(entity, [])
        return rows[0] if rows else None

    def default_income_account_id(self) -> str | None:
        """The first active Income account: where a new Service item's sales are booked by default."""
        rows = self.query(queries.INCOME_ACCOUNT, "looking up an income account").get("Account", [])
        return rows[0]["Id"] if rows else None

    def find_invoices(self, doc_numbers: Sequence[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for chunk in queries.in_lists(list(dict.fromkeys(doc_numbers))):
            rows = self.query(queries.invoices_numbered(chunk), "looking up invoices by number").get("Invoice", [])
            for row in rows:
                if row.get("DocNumber") in chunk:
                    found.setdefault(row["DocNumber"], []).append(row)
        return found

    def existing_ids(self, entity: str, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in queries.in_lists(ids):
            rows = self.query(queries.with_ids(entity, chunk), f"checking which {entity} records still exist")
            found.update(str(row["Id"]) for row in rows.get(entity, []))
        return found

    def custom_txn_numbers(self) -> bool:
        """Preferences.SalesFormsPrefs.CustomTxnNumbers: whether QuickBooks keeps the DocNumber we send."""
        return self.preferences.numbering().keeps_ours

    def invoice_numbering(self, *, fresh: bool = False) -> InvoiceNumbering:
        return self.preferences.numbering(fresh=fresh)

    def company_timezone(self) -> tzinfo:
        return self.preferences.zone()

    def company_currency(self) -> str | None:
        return self.preferences.home_currency()

    # -- writes ------------------------------------------------------------------------------------
    def create(self, entity: str, body: dict, request_id: str) -> dict:
        """One record, with a stable requestid so a retry after a lost answer replays, not repeats."""
        payload = json.dumps(body, cls=DecimalEncoder)
        answer = self.calls.call(
            "create",
            f"creating {entity}",
            lambda qb: qb.create_object(entity, payload, request_id=request_id),
            expect=entity,
        )
        return answer[entity]

    def create_many(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        return self.batches.write(entity, "create", records)

    def update_many(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        return self.batches.update(entity, records)

    def send_batch(self, entity: str, items: Sequence[tuple[str, str, dict]], request_id: str) -> list[WriteOutcome]:
        return self.batches.send_once(entity, items, request_id)

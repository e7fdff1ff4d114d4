"""The only caller of python-quickbooks: implements `sync.port.QuickBooksPort` over a `Connection`.

Every call goes through the throttle and `_call`, which retries what may succeed later: 429 (waits
Retry-After when sent, else `throttle_wait` — Intuit advises 60 s), 5xx, timeouts, dropped
connections and non-JSON answers (bounded, exponential back-off with full jitter); a 401 refreshes
the tokens once, and a refresh whose answer was lost (timeout, dropped, 5xx) is retried like those,
with the same refresh token (a lost answer may have rotated it: the retry must come while the
superseded one is still honoured); a refused refresh token (`invalid_grant`) ends the call. A refusal
of the data (4xx faults) is never retried.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone, tzinfo
from itertools import islice
from typing import TypeVar

import requests
import tenacity
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.mixins import DecimalEncoder

from qb_pipeline.core import defaults
from qb_pipeline.quickbooks.company_zone import company_zone
from qb_pipeline.quickbooks.connection import Connection
from qb_pipeline.quickbooks.entities import entity_named
from qb_pipeline.quickbooks.errors import (
    QuickBooksAuthError,
    QuickBooksError,
    QuickBooksOutcomeUnknown,
    QuickBooksThrottled,
    QuickBooksUnavailable,
    QuickBooksValidationError,
)
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.quickbooks.throttle import Throttle
from qb_pipeline.sync.port import ChangeSet, InvoiceNumbering, WriteOutcome

PAGE_SIZE = 1000
PAGES_IN_FLIGHT = 10  # QuickBooks serves at most 10 requests of a company at once (the throttle keeps it so)
BATCH_SIZE = defaults.QBO_BATCH_LIMIT
CDC_CAP = 1000
TRANSPORT_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
T = TypeVar("T")


def quote(value: str) -> str:
    """A QBO query string literal: backslashes and quotes escaped, never pasted raw."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_instant(value: datetime) -> str:
    """An instant in QBO's query/CDC format, with an explicit UTC offset."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class _RefreshOnce:
    """Whether this call has refreshed the tokens after a 401 already (a second 401 means reconnect).
    A refresh that failed is not repeated here: the connection refreshes before the call's next try."""

    used = False


def _worth_another_try(failure: BaseException) -> bool:
    """429, 5xx, timeouts, dropped connections, malformed answers: not a write whose outcome is unknown."""
    return isinstance(failure, QuickBooksThrottled | QuickBooksUnavailable) and not isinstance(
        failure, QuickBooksOutcomeUnknown
    )


class QuickBooksGateway:
    def __init__(
        self,
        connection: Connection,
        *,
        retries: int = defaults.RETRIES,
        batch_size: int = BATCH_SIZE,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        throttle_wait: float = defaults.THROTTLE_WAIT_SECONDS,
        throttle: Throttle | None = None,
        pages_in_flight: int = PAGES_IN_FLIGHT,
        stats: CallStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = lambda _m: None,
        company_timezone: str = "",
    ) -> None:
        self.connection, self.retries, self.batch_size = connection, retries, min(batch_size, BATCH_SIZE)
        self.backoff_base, self.backoff_max, self.throttle_wait = backoff_base, backoff_max, throttle_wait
        self.throttle, self.sleep, self.progress = throttle or Throttle(), sleep, progress
        self.pages_in_flight = pages_in_flight
        self.configured_timezone = company_timezone  # QB_COMPANY_TIMEZONE (an IANA name), or "" for the default
        # full jitter: a wait drawn between 0 and base × 2^(attempt - 1), capped
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff_base, max=backoff_max)
        self.stats = stats or connection.stats  # a gateway per asset counts its own calls
        self.realm_id = connection.realm_id
        self._preferences: tuple[InvoiceNumbering, tzinfo] | None = None  # read once per gateway (one run)

    # -- the retry loop ----------------------------------------------------------------------------
    def _call(
        self,
        kind: str,
        what: str,
        operation: Callable[[object], T],
        expect: str | None = None,
        *,
        resend_unknown: bool = True,
    ) -> T:
        """`expect`: the key a well-formed answer holds; an answer without it is retried like a 5xx.

        `resend_unknown=False` (writes that must not happen twice): a 429 or 401 is retried, since
        QuickBooks did not process the request; any failure after which it may have (timeout, 5xx,
        dropped or malformed answer) raises QuickBooksOutcomeUnknown at once.

        Attempts, waits and jitter are tenacity's; which failures are worth another try, the wait a
        429 asks for, and one token refresh per call on a 401 are QuickBooks' rules, kept here.
        """
        refresh = _RefreshOnce()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_worth_another_try),
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=lambda state: self._note_retry(what, state),
            retry_error_callback=self._give_up,
        )
        return retrying(self._attempt, kind, what, operation, expect, resend_unknown, refresh)

    def _attempt(
        self,
        kind: str,
        what: str,
        operation: Callable[[object], T],
        expect: str | None,
        resend_unknown: bool,
        refresh: _RefreshOnce,
    ) -> T:
        """One try, after a token refresh when QuickBooks answers 401 (once per call); failures raised as
        our errors."""
        while True:
            # May refresh first, so the throttle slot is taken after. Nothing is sent to the API yet: a
            # failed refresh is retried like a 5xx, never an outcome unknown.
            client = self.connection.client()
            try:
                with self.throttle.slot(is_batch=kind == "batch"):
                    self.stats.count(kind)
                    result = operation(client)
                if expect is not None and not (isinstance(result, dict) and expect in result):
                    raise QuickBooksUnavailable(f"{what}: QuickBooks answered without {expect}")
                self.connection.note_success()
                return result
            except AuthorizationException:
                if refresh.used:
                    raise QuickBooksAuthError(
                        "QuickBooks rejected fresh credentials: run `qb-pipeline auth connect`"
                    ) from None
                refresh.used = True
                # QuickBooks did not process a call it answered 401, so even a write may be retried when
                # this refresh fails: QuickBooksUnavailable (lost answer) is; QuickBooksAuthError is not.
                self.connection.after_unauthorized()
                continue
            except QuickBooksThrottled:
                raise  # QuickBooks did not process it: always safe to send again
            except QuickBooksUnavailable as error:
                failure = error
            except TRANSPORT_ERRORS as error:
                failure = QuickBooksUnavailable(f"{what}: {type(error).__name__} talking to QuickBooks")
            except QuickbooksException as error:
                if error.error_code == 10000 and "Error reading json" in str(error.message):
                    failure = QuickBooksUnavailable(f"{what}: QuickBooks answered with a non-JSON page")
                else:
                    raise QuickBooksValidationError(
                        what, str(error.error_code), _fault_text(error.message, error.detail)
                    ) from None
            if not resend_unknown:
                raise QuickBooksOutcomeUnknown(f"{failure}; QuickBooks may or may not have applied it") from None
            raise failure from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception()
        if isinstance(failure, QuickBooksThrottled):
            return failure.retry_after if failure.retry_after is not None else self.throttle_wait
        return self._backoff(state)

    def _note_retry(self, what: str, state: tenacity.RetryCallState) -> None:
        self.stats.retried()
        failure = str(state.outcome.exception())
        said = failure if failure.startswith(what) else f"{what}: {failure}"
        self.progress(f"{said}; retry {state.attempt_number}/{self.retries} in {state.next_action.sleep:.1f} s")

    @staticmethod
    def _give_up(state: tenacity.RetryCallState):
        failure = state.outcome.exception()
        if isinstance(failure, QuickBooksThrottled) or not _worth_another_try(failure):
            raise failure
        raise QuickBooksUnavailable(f"{failure} (gave up after {state.attempt_number} attempts)") from None

    # -- reads -------------------------------------------------------------------------------------
    def query(self, text: str, what: str = "query") -> dict:
        return self._call("query", what, lambda qb: qb.query(text), expect="QueryResponse")["QueryResponse"]

    def query_pages(self, entity: str, *, updated_since: datetime | None = None) -> Iterator[list[dict]]:
        """Every record (of those updated since `updated_since`), ORDERBY Id, page after page in order.

        Counts (while the first page, read whatever the count, is on its way), then keeps
        `pages_in_flight` pages requested while the caller writes the earlier ones (each page waits on
        QuickBooks for a second or more; one at a time, a large company takes minutes). When the count
        fills its last page, the page just past it is requested with the others. Pages beyond — records
        created meanwhile — are read one after another until a short page, as a plain paged read would;
        what is created after the page past the count was read is the next run's (CDC overlap).
        """
        where = self._where(entity, updated_since)

        def page_at(position: int) -> list[dict]:
            return self.query(
                f"SELECT * FROM {entity}{where} ORDERBY Id STARTPOSITION {position} MAXRESULTS {PAGE_SIZE}",
                f"reading {entity} records",
            ).get(entity, [])

        in_flight = max(1, self.pages_in_flight)
        pool = ThreadPoolExecutor(in_flight, thread_name_prefix=f"qbo-{entity}-page")
        try:
            requested = deque([pool.submit(page_at, 1)])
            counted = self._count(entity, where)
            positions = iter(range(1 + PAGE_SIZE, counted + 2, PAGE_SIZE))
            requested.extend(pool.submit(page_at, position) for position in islice(positions, in_flight - 1))
            while requested:
                page = requested.popleft().result()
                requested.extend(pool.submit(page_at, position) for position in islice(positions, 1))
                last_page_full = len(page) == PAGE_SIZE
                if page:
                    yield page
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        position = (counted // PAGE_SIZE + 1) * PAGE_SIZE + 1  # the first position past those requested
        while last_page_full:
            page = page_at(position)
            last_page_full = len(page) == PAGE_SIZE
            if page:
                yield page
            position += PAGE_SIZE

    def count(self, entity: str) -> int:
        return self._count(entity, self._where(entity, None))

    def _count(self, entity: str, where: str) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {entity}{where}", f"counting {entity}").get("totalCount", 0))

    @staticmethod
    def _where(entity: str, updated_since: datetime | None) -> str:
        conditions = ["Active IN (true, false)"] if entity_named(entity).has_active else []
        if updated_since is not None:
            conditions.append(f"MetaData.LastUpdatedTime >= {quote(format_instant(updated_since))}")
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def changes_since(self, entity: str, since: datetime) -> ChangeSet:
        answer = self._call(
            "cdc",
            f"changes to {entity}",
            lambda qb: qb.change_data_capture(entity, format_instant(since)),
            expect="CDCResponse",
        )
        changed, deleted, total = [], [], 0
        for group in answer.get("CDCResponse", [{}])[0].get("QueryResponse", []):
            for record in group.get(entity, []):
                total += 1
                (deleted if record.get("status") == "Deleted" else changed).append(record)
        return ChangeSet(changed=changed, deleted_ids=[str(r["Id"]) for r in deleted], truncated=total >= CDC_CAP)

    def find_by_name(self, entity: str, name: str) -> dict | None:
        rows = self.query(
            f"SELECT * FROM {entity} WHERE {entity_named(entity).name_field} = {quote(name)} AND Active IN (true, false)",
            f"looking up {entity} {name!r}",
        ).get(entity, [])
        return rows[0] if rows else None

    def default_income_account_id(self) -> str | None:
        """The first active Income account: where a new Service item's sales are booked by default."""
        rows = self.query(
            "SELECT * FROM Account WHERE AccountType = 'Income' ORDERBY Id MAXRESULTS 1", "looking up an income account"
        ).get("Account", [])
        return rows[0]["Id"] if rows else None

    def find_invoices(self, doc_numbers: Sequence[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        numbers = list(dict.fromkeys(doc_numbers))
        for start in range(0, len(numbers), 100):  # keeps each query short
            chunk = numbers[start : start + 100]
            rows = self.query(
                f"SELECT * FROM Invoice WHERE DocNumber IN ({', '.join(quote(n) for n in chunk)}) "
                f"MAXRESULTS {PAGE_SIZE}",
                "looking up invoices by number",
            ).get("Invoice", [])
            for row in rows:
                if row.get("DocNumber") in chunk:
                    found.setdefault(row["DocNumber"], []).append(row)
        return found

    def existing_ids(self, entity: str, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 100):
            chunk = list(ids[start : start + 100])
            rows = self.query(
                f"SELECT * FROM {entity} WHERE Id IN ({', '.join(quote(i) for i in chunk)}) MAXRESULTS {PAGE_SIZE}",
                f"checking which {entity} records still exist",
            ).get(entity, [])
            found.update(str(row["Id"]) for row in rows)
        return found

    @property
    def request_limit_seconds(self) -> float:
        return self.throttle.abandoned_hold_seconds

    def custom_txn_numbers(self) -> bool:
        """Preferences.SalesFormsPrefs.CustomTxnNumbers: whether QuickBooks keeps the DocNumber we send."""
        return self._company_preferences()[0].keeps_ours

    def invoice_numbering(self, *, fresh: bool = False) -> InvoiceNumbering:
        if fresh:
            self._preferences = None
        return self._company_preferences()[0]

    def company_timezone(self) -> tzinfo:
        """The company's IANA zone (quickbooks/company_zone.py), checked against the offset of the
        preferences answer's `time`; a disagreement is reported through `progress` once per gateway."""
        return self._company_preferences()[1]

    def _company_preferences(self) -> tuple[InvoiceNumbering, tzinfo]:
        if self._preferences is None:
            answer = self._call(
                "read",
                "reading the company's preferences",
                lambda qb: qb.get(f"{qb.api_url}/company/{qb.company_id}/preferences", {}),
                expect="Preferences",
            )
            sales = answer["Preferences"].get("SalesFormsPrefs") or {}
            zone = company_zone(self.configured_timezone, answer.get("time"))
            if zone.warning:
                self.progress(f"time zone: {zone.warning}")
            numbering = InvoiceNumbering(
                keeps_ours=sales.get("CustomTxnNumbers") is True, version=str(answer["Preferences"].get("SyncToken"))
            )
            self._preferences = (numbering, zone.zone)
        return self._preferences

    # -- writes ------------------------------------------------------------------------------------
    def create(self, entity: str, body: dict, request_id: str) -> dict:
        """One record, with a stable requestid so a retry after a lost answer replays, not repeats."""
        payload = json.dumps(body, cls=DecimalEncoder)
        answer = self._call(
            "create",
            f"creating {entity}",
            lambda qb: qb.create_object(entity, payload, request_id=request_id),
            expect=entity,
        )
        return answer[entity]

    def create_many(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        return self._batch(entity, "create", records)

    def update_many(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        outcomes = self._batch(entity, "update", records)
        # A stale SyncToken: read the current one and try once more.
        bodies = dict(records)
        for index, outcome in enumerate(outcomes):
            if outcome.error_code == "5010":
                body = bodies[outcome.key]
                try:
                    current = self._call(
                        "read",
                        f"re-reading {entity} {body['Id']}",
                        lambda qb, i=body["Id"]: qb.get_single_object(entity, i),
                        expect=entity,
                    )[entity]
                    retried = self._batch(
                        entity, "update", [(outcome.key, {**body, "SyncToken": current["SyncToken"]})]
                    )
                    outcomes[index] = retried[0]
                except QuickBooksError as error:
                    outcomes[index] = WriteOutcome(outcome.key, error_message=str(error), transient=error.transient)
        return outcomes

    def send_batch(self, entity: str, items: Sequence[tuple[str, str, dict]], request_id: str) -> list[WriteOutcome]:
        """One batch of creates (key, bId, body) sent once with `request_id`; never re-sent here.

        Raises QuickBooksOutcomeUnknown when QuickBooks may have applied it without our knowing.
        """
        request = {"BatchItemRequest": [{"bId": bid, "operation": "create", entity: body} for _key, bid, body in items]}
        payload = json.dumps(request, cls=DecimalEncoder)
        answer = self._call(
            "batch",
            f"create {len(items)} {entity} records",
            lambda qb: qb.post(f"{qb.api_url}/company/{qb.company_id}/batch", payload, request_id=request_id),
            expect="BatchItemResponse",
            resend_unknown=False,
        )
        return _batch_outcomes(entity, answer, {bid: key for key, bid, _body in items})

    def _batch(self, entity: str, operation: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            by_bid = {str(n): key for n, (key, _body) in enumerate(chunk)}  # bId ≤ 10 characters
            request = {
                "BatchItemRequest": [
                    {"bId": str(n), "operation": operation, entity: body} for n, (_key, body) in enumerate(chunk)
                ]
            }
            payload = json.dumps(request, cls=DecimalEncoder)
            try:
                answer = self._call(
                    "batch",
                    f"{operation} {len(chunk)} {entity} records",
                    lambda qb: qb.batch_operation(payload),
                    expect="BatchItemResponse",
                )
            except QuickBooksAuthError:
                raise  # every later call would fail too: stop, and the caller's records stay unclaimed
            except QuickBooksError as error:
                outcomes += [WriteOutcome(key, error_message=str(error), transient=error.transient) for key, _ in chunk]
                continue
            outcomes += _batch_outcomes(entity, answer, by_bid)
            self.progress(f"{entity}: {operation} batch of {len(chunk)} done ({start + len(chunk)}/{len(records)})")
        return outcomes


def _batch_outcomes(entity: str, answer: dict, key_by_bid: dict[str, str]) -> list[WriteOutcome]:
    answered = {item.get("bId"): item for item in answer.get("BatchItemResponse", [])}
    outcomes = []
    for bid, key in key_by_bid.items():
        item = answered.get(bid)
        if item is None:
            outcomes.append(WriteOutcome(key, error_message="no answer for this record in the batch", transient=True))
        elif "Fault" in item:
            error = (item["Fault"].get("Error") or [{}])[0]
            outcomes.append(
                WriteOutcome(
                    key,
                    error_code=str(error.get("code", "")),
                    error_message=_fault_text(error.get("Message"), error.get("Detail")),
                )
            )
        else:
            outcomes.append(WriteOutcome(key, record=item[entity]))
    return outcomes


def _fault_text(message: object, detail: object) -> str:
    message, detail = str(message or "").strip(), str(detail or "").strip()
    return message if not detail or detail == message else f"{message}: {detail}"

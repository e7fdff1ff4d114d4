"""The gateway against the real sandbox over HTTP: paging, faults, retries, tokens."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksUnavailable, QuickBooksValidationError
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.session import session_scope
from qb_pipeline.quickbooks.throttle import DEFAULT_LIMITS, SPANS, Throttle


def customer_ids(gateway):
    return [c["Id"] for page in gateway.query_pages("Customer") for c in page]


def test_pages_of_1000_to_the_last_row_including_inactive(sandbox, make_gateway):
    sandbox.seed(customers=2500)
    gateway = make_gateway()
    qb_ids = customer_ids(gateway)
    assert len(qb_ids) == 2500 == len(set(qb_ids))
    # one count, then ⌈2500/1000⌉ pages — never the library's silent 100 rows
    assert sandbox.counters()["calls"]["query 200"] == 1 + 3
    assert gateway.count("Customer") == 2500


def test_overlapped_pages_stay_exact_in_order_under_faults_and_429s(sandbox, make_gateway):
    """Several pages in flight while faults and QuickBooks' own limits (concurrency included) hit some of
    them: every record once, in Id order, and never more requests at once than the company allows."""
    sandbox.seed(customers=9_500)
    expected = sorted((record["Id"] for record in sandbox.dump("Customer")["records"]), key=int)
    gateway = make_gateway(retries=6)
    gateway.throttle = Throttle({"second": 10**6, "minute": 10**6, "batch_minute": 10**6, "concurrent": 100})
    gateway.sleep.cap = None  # honour Retry-After for real, or the retry is throttled again
    sandbox.settings(limits="scaled:0.5", latency_ms=200)  # 5 per second and 5 at once; 8 pages want to go
    for kind in ("503", "drop", "truncated"):
        sandbox.inject(kind, count=1, path_contains="/query")
    sandbox.reset_counters()
    try:
        pages = list(gateway.query_pages("Customer"))
        calls = sandbox.counters()
    finally:
        sandbox.settings(limits="off", latency_ms=0)
    assert [record["Id"] for page in pages for record in page] == expected  # each once, in order
    assert calls["calls"].get("query 429", 0) >= 1 and calls["most_in_flight"] <= 5
    assert gateway.stats.retries >= 3 + calls["calls"]["query 429"]


def test_records_created_while_the_pages_are_read_are_read_too(sandbox, make_gateway):
    sandbox.seed(customers=2_000)  # two full pages counted
    gateway = make_gateway()
    gateway.pages_in_flight = 1  # the page past the count is asked for after the records are created
    pages = gateway.query_pages("Customer")
    first = next(pages)  # counted and the first page read
    sandbox.seed(customers=10)
    rest = [record for page in pages for record in page]
    assert len(first) + len(rest) == 2_010


def read_customers_under(sandbox, gateway, **settings) -> tuple[int, dict]:
    """Every customer read with the sandbox at `settings` (undone after): how many, and its call counters."""
    sandbox.settings(**settings)
    sandbox.reset_counters()
    try:
        return sum(len(page) for page in gateway.query_pages("Customer")), sandbox.counters()
    finally:
        sandbox.settings(limits="off", latency_ms=0)


def test_the_client_keeps_under_quickbooks_concurrency_limit(sandbox, make_gateway):
    sandbox.seed(customers=12_000)
    gateway = make_gateway()
    gateway.pages_in_flight = 12  # more than QuickBooks' 10 at once: the throttle keeps 10
    records, calls = read_customers_under(sandbox, gateway, limits="real", latency_ms=2000)  # 16 would fit the rate
    assert records == 12_000
    assert "query 429" not in calls["calls"] and calls["most_in_flight"] <= 10


def test_a_request_given_up_on_keeps_its_slot_while_quickbooks_may_run_it(sandbox, make_gateway):
    """A read timeout ends our wait, not QuickBooks' work: its slot stays taken until QuickBooks would
    have ended the request too, so the pages read meanwhile still fit its 10 at once."""
    sandbox.seed(customers=20_000)
    gateway = make_gateway(timeout_seconds=4.0)
    gateway.throttle = Throttle(dict(DEFAULT_LIMITS), abandoned_hold_seconds=10)  # QuickBooks' 120 s, shortened
    sandbox.inject("timeout", count=1, seconds=6, path_contains="/query")  # answered 3.8 s after we gave up
    records, calls = read_customers_under(sandbox, gateway, limits="real", latency_ms=1800)  # 10 stay in flight
    assert records == 20_000 and gateway.stats.retries == 1
    assert "query 429" not in calls["calls"] and calls["most_in_flight"] <= 10


def test_after_a_429_one_request_fewer_stays_in_flight(sandbox, make_gateway):
    """Should QuickBooks count a request we do not (say, another app's), the first 429 costs the run one
    slot, not a 429 for every page after it."""
    sandbox.seed(customers=40_000)
    gateway = make_gateway()
    gateway.throttle = Throttle({**DEFAULT_LIMITS, "concurrent": 11})  # one more than QuickBooks allows
    gateway.pages_in_flight = 11
    gateway.sleep.cap = None  # honour Retry-After, or the retry is throttled again
    records, calls = read_customers_under(sandbox, gateway, limits="real", latency_ms=2000)  # 5.5 calls a second
    assert records == 40_000
    assert calls["calls"]["query 429"] == 1 and gateway.throttle.concurrent == 10


@pytest.mark.parametrize("kind", ["503", "500", "drop", "non-json", "truncated", "missing-fields"])
def test_transient_faults_are_retried_then_succeed(sandbox, make_gateway, kind):
    sandbox.seed(customers=3)
    gateway = make_gateway()
    sandbox.inject(kind, count=2, path_contains="/query")
    assert len(customer_ids(gateway)) == 3
    assert gateway.stats.retries == 2


def test_a_hanging_call_times_out_and_is_retried(sandbox, make_gateway):
    sandbox.seed(customers=1)
    gateway = make_gateway(timeout_seconds=0.5)
    sandbox.inject("timeout", count=1, seconds=3, path_contains="/query")
    assert len(customer_ids(gateway)) == 1 and gateway.stats.retries == 1


def test_back_off_set_on_a_built_gateway_applies_to_its_next_call(sandbox, make_gateway):
    """The drill and the test fixture shorten the back-off after building a gateway: it must take."""
    gateway = make_gateway(retries=4)
    gateway.sleep.cap = None  # sleep what is asked, and remember it
    gateway.backoff_base = gateway.backoff_max = 0.001  # built with 1 s and 30 s
    sandbox.inject("503", count=4, path_contains="/query")
    assert gateway.count("Customer") == 0
    assert len(gateway.sleep.requested) == 4 and max(gateway.sleep.requested) <= 0.001


def test_retry_budget_exhausted_is_a_clear_error(sandbox, make_gateway):
    gateway = make_gateway(retries=2)
    sandbox.inject("503", count=10, path_contains="/query")
    with pytest.raises(QuickBooksUnavailable, match=r"HTTP 503 \(gave up after 3 attempts\)"):
        gateway.count("Customer")


def test_429_waits_retry_after_when_sent(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.throttle.limits = {"second": 1000, "minute": 100000, "batch_minute": 1000}  # let QBO throttle us
    gateway.sleep.cap = None  # honour the wait for real, or the retry is throttled again
    sandbox.settings(limits="scaled:0.2")  # 2 per second
    for _ in range(4):
        gateway.count("Customer")
    assert gateway.sleep.requested and all(s >= 1 for s in gateway.sleep.requested)
    assert gateway.throttle.concurrent == DEFAULT_LIMITS["concurrent"]  # one call in flight: no slot lost


def test_429_without_retry_after_waits_qbos_advice(sandbox, make_gateway):
    gateway = make_gateway(throttle_wait=7.0)
    sandbox.inject("429-xml", count=1)
    assert gateway.count("Customer") == 0
    assert gateway.sleep.requested == [7.0]


def test_client_throttle_keeps_under_the_per_second_limit(sandbox, make_gateway):
    gateway = make_gateway()
    sandbox.settings(limits="real")
    for _ in range(25):
        gateway.count("Item")
    assert "query 429" not in sandbox.counters()["calls"]
    assert gateway.throttle.waits >= 1


def test_a_call_the_network_holds_back_does_not_put_quickbooks_over_its_rate(sandbox, make_gateway):
    """We count a call when we send it, QuickBooks when it arrives: with one call of a burst arriving
    0.05 s late, the next burst must still find room in QuickBooks' last second."""
    gateway = make_gateway()
    with ThreadPoolExecutor(10) as pool:  # bursts of 10, as a list's first pages go
        list(pool.map(lambda _: gateway.count("Item"), range(10)))  # connections opened: only the fault is late
        time.sleep(SPANS["second"])
        sandbox.settings(limits="real")
        sandbox.inject("late", count=1, seconds=0.05, path_contains="/query")
        sandbox.reset_counters()
        try:
            counts = list(pool.map(lambda _: gateway.count("Item"), range(30)))
            calls = sandbox.counters()["calls"]
        finally:
            sandbox.settings(limits="off")
    assert len(counts) == 30 and calls["query 200"] == 30
    assert "query 429" not in calls


def test_expired_access_token_is_refreshed_once_on_401(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.count("Customer")
    sandbox.control("POST", "tokens/expire-access")
    assert gateway.count("Customer") == 0
    assert gateway.stats.refreshes == 2  # the first call's, and the one after the 401


def test_revoked_connection_fails_with_an_actionable_message_and_no_secret(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.count("Customer")
    sandbox.inject("revoke", count=1)
    with pytest.raises(QuickBooksAuthError, match="qb-pipeline auth connect") as caught:
        gateway.count("Customer")
    assert sandbox.connection["client_secret"] not in str(caught.value)


def test_validation_fault_is_typed_and_not_retried(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.create("Customer", {"DisplayName": "Acme"}, request_id="c-1")
    with pytest.raises(QuickBooksValidationError) as caught:
        gateway.create("Customer", {"DisplayName": "Acme"}, request_id="c-2")
    assert caught.value.code == "6240" and "Customer" in str(caught.value)
    assert gateway.stats.retries == 0


def test_create_that_times_out_after_qbo_saved_it_is_not_duplicated(sandbox, make_gateway):
    gateway = make_gateway(timeout_seconds=0.5)
    sandbox.inject("timeout", count=1, seconds=2, path_contains="/customer")
    created = gateway.create("Customer", {"DisplayName": "Exactly Once"}, request_id="order-77")
    assert [r["Id"] for r in sandbox.dump("Customer")["records"]] == [created["Id"]]


def test_batches_of_30_with_per_record_outcomes_and_5010_retry(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.create("Customer", {"DisplayName": "Taken"}, request_id="t-1")
    records = [(str(n), {"DisplayName": f"Batch {n}"}) for n in range(64)] + [("dup", {"DisplayName": "taken"})]
    outcomes = gateway.create_many("Customer", records)
    assert sandbox.counters()["calls"]["batch 200"] == 3  # ⌈65/30⌉
    assert [o.key for o in outcomes] == [k for k, _ in records]
    assert sum(o.ok for o in outcomes) == 64 and outcomes[-1].error_code == "6240"
    first = outcomes[0].record
    gateway.update_many(
        "Customer", [("a", {"Id": first["Id"], "SyncToken": first["SyncToken"], "sparse": True, "CompanyName": "One"})]
    )
    stale = gateway.update_many(
        "Customer", [("b", {"Id": first["Id"], "SyncToken": first["SyncToken"], "sparse": True, "CompanyName": "Two"})]
    )
    assert stale[0].ok and stale[0].record["CompanyName"] == "Two" and stale[0].record["SyncToken"] == "2"


def test_cdc_and_lookups_escape_quotes_and_backslashes(sandbox, make_gateway):
    gateway = make_gateway()
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    gateway.create("Customer", {"DisplayName": "O'Brien \\ Sons"}, request_id="q-1")
    assert gateway.find_by_name("Customer", "o'brien \\ sons")["DisplayName"] == "O'Brien \\ Sons"
    changes = gateway.changes_since("Customer", since)
    assert [c["DisplayName"] for c in changes.changed] == ["O'Brien \\ Sons"] and not changes.truncated
    item_account = {"value": "2"}
    gateway.create(
        "Item",
        {"Name": "Thing", "Type": "Service", "UnitPrice": Decimal("2.50"), "IncomeAccountRef": item_account},
        request_id="i-1",
    )
    assert gateway.find_invoices(["nope"]) == {}


def test_a_successful_call_is_remembered_for_auth_status(sandbox, make_gateway, engine):
    gateway = make_gateway()
    gateway.count("Customer")
    with session_scope(engine) as session:
        assert session.get(QBToken, gateway.realm_id).last_success_at is not None

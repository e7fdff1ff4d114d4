"""Reads per sync of the two public QuickBooks connectors, replayed over HTTP against the sandbox.

Intuit meters data-out calls (GET of an entity, query, CDC, reports: "CorePlus") per month; writes are
free. This replays, request for request, what one sync of each public connector sends, and counts the
calls with the sandbox's own counters (GET /_sandbox/counters), not with the replay's:
1. an idle company (after an initial full sync, nothing changed) — per hourly sync and per day (× 24);
2. one hourly sync after 100 changes made in QuickBooks (customers and items edited, invoices added).

Where each request pattern comes from (read from the source, not guessed):

Airbyte `source-quickbooks`: airbytehq/airbyte, airbyte-integrations/connectors/source-quickbooks/
manifest.yaml at commit 014ab79d067e4e1291537e458470a339e80809d0 (metadata.yaml: dockerImageTag 4.1.4,
base image source-declarative-manifest 6.45.1, i.e. airbyte-cdk 6.45.1, whose paginator and cursor
code was read from its PyPI wheel). 28 streams, every one incremental (DatetimeBasedCursor on
MetaData.LastUpdatedTime, step P30D, cursor_granularity PT0S); all 28 are replayed, as a connection
with every stream selected, in incremental mode. Per stream and 30-day slice, GETs of
    SELECT * FROM <Entity> WHERE Metadata.LastUpdatedTime > '<slice start>' AND Metadata.LastUpdatedTime
    <= '<slice end>' [AND Active IN (true, false)] ORDER BY Metadata.LastUpdatedTime ASC
    STARTPOSITION <offset + 1> MAXRESULTS 200
(OffsetIncrement, page_size 5: the offset grows by the rows returned, and paging stops only at a page
of fewer than 5 rows, so 100 changed rows cost 2 pages). The state it keeps (CDK 6.45.1,
ConcurrentCursor with sequential state) is the newest record's cursor, or the start date when a stream
never returned a row: an empty stream re-walks start_date → now in 30-day slices, one query each, on
every sync. `Active IN (true, false)` is in the manifest for Account, Budget, Department, Employee,
Item and Vendor (read); for the other name lists it is assumed as in tap-quickbooks (it changes rows,
not calls). A user may pick Full Refresh instead: a sync without state costs what the initial full
sync did (given as `full_refresh_reads_per_sync`; the tap has no such mode, but a run without its
state file is the same). No discover
or check call is replayed (discover makes no HTTP call: inline schemas); the OAuth refresh is.

Singer `tap-quickbooks` 2.5.0 from PyPI (`pip download tap-quickbooks --no-deps`; author Stitch,
i.e. singer-io/tap-quickbooks: the PyPI name is theirs, not hotglue's), tap_quickbooks/streams.py,
sync.py, query_builder.py, client.py. No stream is selected by default (Singer catalogs select none);
every one is replayed, as `select: ["*.*"]` would: 29 query streams, all sent as ONE batch POST per
round, each item `SELECT * FROM <Entity> WHERE Metadata.LastUpdatedTime >= '<bookmark>' [AND Active IN
(true, false)] ORDER BY Metadata.LastUpdatedTime ASC STARTPOSITION <n> MAXRESULTS 1000`, rounds until
no item returns rows (every stream rides in every round; `>=` re-reads the newest rows, so an idle
sync takes 2 rounds); then profit_loss_report (GET reports/ProfitAndLoss per 29-day window from its
bookmark; 1 call per sync once bookmarked) and deleted_objects (GET cdc for 24 entities, changedSince =
its bookmark, which stays at start_date until a deletion is seen; when that answer holds >= 1,000
objects, 24 more CDC calls, one per entity). The sandbox has no reports endpoint: it answers the
ProfitAndLoss call with a fault (counted, as QuickBooks would count the real one).

Approximations: changes are made through the sandbox's API (what a QuickBooks user does in the UI);
seeded records share one LastUpdatedTime, so one customer and one item are edited afterwards (as in a
company edited over time) — otherwise the tap's `>=` would re-read every seeded row each sync. The
start date is `start_days_ago` days back (default 29: the tap's CDC call needs changedSince within 30
days); with a start date a year back, each empty Airbyte stream costs 13 queries per sync instead of 1.
Intuit's metering of a batch (one call, or one per item) is not documented here: both are given.

    .venv/bin/python -m benchmarks.peer_reads [--quick]
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import datetime, timedelta, timezone

import requests

from benchmarks.harness import machine, peak_rss_mb, write_result
from benchmarks.sandbox_process import Sandbox

AIRBYTE_SOURCE = (
    "airbytehq/airbyte airbyte-integrations/connectors/source-quickbooks/manifest.yaml "
    "@014ab79d067e4e1291537e458470a339e80809d0 (image 4.1.4, airbyte-cdk 6.45.1)"
)
SINGER_SOURCE = "PyPI tap-quickbooks 2.5.0 (singer-io): tap_quickbooks/streams.py, sync.py, query_builder.py"
NAME_LISTS = {  # queried with `Active IN (true, false)`, so inactive rows come too
    "Account", "Budget", "Class", "Customer", "Department", "Employee", "Item",
    "PaymentMethod", "TaxCode", "TaxRate", "Term", "Vendor",
}  # fmt: skip
AIRBYTE_ENTITIES = [
    "Account", "BillPayment", "Bill", "Budget", "Class", "CreditMemo", "Customer", "Department", "Deposit",
    "Employee", "Estimate", "Invoice", "Item", "JournalEntry", "PaymentMethod", "Payment", "PurchaseOrder",
    "Purchase", "RefundReceipt", "SalesReceipt", "TaxAgency", "TaxCode", "TaxRate", "Term", "TimeActivity",
    "Transfer", "VendorCredit", "Vendor",
]  # fmt: skip
SINGER_ENTITIES = [*AIRBYTE_ENTITIES[:7], "CustomerType", *AIRBYTE_ENTITIES[7:]]  # + customer_types
SINGER_CDC_ENTITIES = [
    "Account", "BillPayment", "Bill", "Budget", "Class", "CreditMemo", "Customer", "Department", "Deposit",
    "Employee", "Estimate", "Invoice", "Item", "JournalEntry", "PaymentMethod", "Payment", "PurchaseOrder",
    "Purchase", "RefundReceipt", "SalesReceipt", "Term", "Transfer", "VendorCredit", "Vendor",
]  # fmt: skip
AIRBYTE_SLICE = timedelta(days=30)
AIRBYTE_MAX_RESULTS, AIRBYTE_STOP_BELOW = 200, 5  # MAXRESULTS default; OffsetIncrement page_size
SINGER_MAX_RESULTS, SINGER_REPORT_WINDOW, SINGER_CDC_SPLIT = 1000, timedelta(days=29), 1000
FULL = {"customers": 5000, "items": 500, "invoices": 200}
QUICK = {"customers": 300, "items": 30, "invoices": 10}
CHANGES = {"Customer": 50, "Item": 25, "Invoice": 25}  # 100 an hour: edits, edits, new invoices


class Wire:
    """One client's HTTP session to the sandbox's QuickBooks API, with an OAuth refresh of its own."""

    def __init__(self, sandbox_url: str, connection: dict, user_agent: str) -> None:
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": user_agent})
        self.base = f"{sandbox_url}/v3/company/{connection['realm_id']}"
        self.token_url = f"{sandbox_url}/oauth2/v1/tokens/bearer"
        self.app = (connection["client_id"], connection["client_secret"])
        self.refresh_token = connection["refresh_token"]

    def refresh(self) -> None:
        """What both connectors do at the start of a sync (the access token is an hour old): not metered."""
        answer = requests.post(
            self.token_url, data={"grant_type": "refresh_token", "refresh_token": self.refresh_token}, auth=self.app
        )
        answer.raise_for_status()
        tokens = answer.json()
        self.refresh_token = tokens["refresh_token"]
        self.session.headers["Authorization"] = f"Bearer {tokens['access_token']}"

    def get(self, path: str, **params) -> dict:
        """The answer's JSON, whatever its status (a fault is an answer the sandbox counted)."""
        return self.session.get(f"{self.base}/{path}", params=params).json()

    def post(self, path: str, body: dict, **params) -> dict:
        answer = self.session.post(f"{self.base}/{path}", params=params, json=body)
        answer.raise_for_status()
        return answer.json()

    def rows(self, query: str, **params) -> list[dict]:
        response = self.get("query", query=query, **params).get("QueryResponse", {})
        return next((v for v in response.values() if isinstance(v, list)), [])


def _updated(record: dict) -> datetime:
    return datetime.fromisoformat(record["MetaData"]["LastUpdatedTime"])


def _active_clause(entity: str) -> str:
    return " AND Active IN (true, false)" if entity in NAME_LISTS else ""


# -- Airbyte source-quickbooks ---------------------------------------------------------------------
def _airbyte_time(moment: datetime) -> str:
    """The manifest's datetime_format "%Y-%m-%dT%H:%M:%S%z", then its `[:-2] + ":" + [-2:]` (→ +00:00)."""
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z")
    return text[:-2] + ":" + text[-2:]


def airbyte_sync(wire: Wire, state: dict, start: datetime) -> None:
    """One sync of every stream; `state` (stream → cursor) is read and advanced as the CDK does."""
    wire.refresh()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for entity in AIRBYTE_ENTITIES:
        lower = state.get(entity, start)
        newest = lower
        while lower < now:  # the cursor's 30-day slices from the state to now
            upper = min(lower + AIRBYTE_SLICE, now)
            offset = 0
            while True:
                rows = wire.rows(
                    f"SELECT * FROM {entity} WHERE Metadata.LastUpdatedTime > '{_airbyte_time(lower)}' "
                    f"AND Metadata.LastUpdatedTime <= '{_airbyte_time(upper)}'{_active_clause(entity)} "
                    f"ORDER BY Metadata.LastUpdatedTime ASC STARTPOSITION {offset + 1} MAXRESULTS {AIRBYTE_MAX_RESULTS}"
                )
                newest = max([newest, *map(_updated, rows)])
                if len(rows) < AIRBYTE_STOP_BELOW:
                    break
                offset += len(rows)
            lower = upper
        state[entity] = newest  # the newest record's cursor, or where it started when none came


# -- Singer tap-quickbooks ---------------------------------------------------------------------------
def singer_sync(wire: Wire, state: dict, start: datetime) -> int:
    """One sync of every stream; `state` holds the tap's bookmarks. Returns the batch items sent."""
    wire.refresh()
    start_text = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    items_sent = _singer_batch_streams(wire, state, start_text)
    _singer_profit_and_loss(wire, state, start)
    _singer_deleted_objects(wire, state, start_text)
    return items_sent


def _singer_batch_streams(wire: Wire, state: dict, start_text: str) -> int:
    bookmarks = {entity: state.get(entity, start_text) for entity in SINGER_ENTITIES}
    positions = dict.fromkeys(SINGER_ENTITIES, 1)
    items_sent = 0
    while True:
        batch = [
            {
                "bId": entity,
                "Query": f"SELECT * FROM {entity} WHERE Metadata.LastUpdatedTime >= '{bookmarks[entity]}'"
                f"{_active_clause(entity)} ORDER BY Metadata.LastUpdatedTime ASC "
                f"STARTPOSITION {positions[entity]} MAXRESULTS {SINGER_MAX_RESULTS}",
            }
            for entity in SINGER_ENTITIES
        ]
        items_sent += len(batch)
        answers = wire.post("batch", {"BatchItemRequest": batch}, minorversion=75)["BatchItemResponse"]
        if not any(answer.get("QueryResponse", {}).get("maxResults") for answer in answers):
            return items_sent
        for answer in answers:
            response = answer.get("QueryResponse", {})
            for entity, records in response.items():
                if isinstance(records, list) and records:
                    state[entity] = records[-1]["MetaData"]["LastUpdatedTime"]
                    positions[entity] += len(records)


def _singer_profit_and_loss(wire: Wire, state: dict, start: datetime) -> None:
    """ReportStream.sync: 29-day windows; once bookmarked, one window ending now."""
    now = datetime.now(timezone.utc)
    bookmark = state.get("profit_loss_report")
    window_start = bookmark or start
    window_end = window_start + SINGER_REPORT_WINDOW
    if window_end > now:
        window_end = now
        if bookmark is not None:
            window_start = window_end - SINGER_REPORT_WINDOW
    while window_start < now:
        wire.get(
            "reports/ProfitAndLoss",
            summarize_column_by="Days",
            start_date=str(window_start.date()),
            end_date=str(window_end.date()),
        )
        window_start = window_end + timedelta(days=1)
        window_end = min(window_start + SINGER_REPORT_WINDOW, now)
    state["profit_loss_report"] = now  # QuickBooks answers a column per day: the bookmark is the last one


def _singer_deleted_objects(wire: Wire, state: dict, start_text: str) -> None:
    since = state.get("deleted_objects", start_text)
    answer = wire.get("cdc", entities=",".join(SINGER_CDC_ENTITIES), changedSince=since)
    groups = answer.get("CDCResponse", [{}])[0].get("QueryResponse", [{}])
    found = [r for group in groups for v in group.values() if isinstance(v, list) for r in v]
    if len(found) >= SINGER_CDC_SPLIT:  # CDC answers at most 1,000 objects: then one call per entity
        for entity in SINGER_CDC_ENTITIES:
            wire.get("cdc", entities=entity, changedSince=since)
    deleted = [r["MetaData"]["LastUpdatedTime"] for r in found if r.get("status") == "Deleted"]
    if deleted:
        state["deleted_objects"] = max([since, *deleted])


# -- the company, its changes, and the counting ----------------------------------------------------
class Control:
    """The sandbox's control API (seed, reset, counters), authorized with its control token."""

    def __init__(self, sandbox_url: str, control_token: str) -> None:
        self.url, self.headers = f"{sandbox_url}/_sandbox", {"Authorization": f"Bearer {control_token}"}

    def __call__(self, method: str, path: str, body: dict | None = None) -> dict:
        answer = requests.request(method, f"{self.url}/{path}", json=body, headers=self.headers, timeout=600)
        answer.raise_for_status()
        return answer.json()


def build_company(control: Control, user: Wire, *, customers: int, items: int, invoices: int) -> None:
    """A fresh company: seeded lists, invoices added through the API, then one customer and one item
    edited (so, as in a company edited over time, one record holds the newest time)."""
    control("POST", "reset")
    control("POST", "seed", {"customers": customers, "items": items})
    user.refresh()
    customer_ids = [r["Id"] for r in user.rows(f"SELECT * FROM Customer MAXRESULTS {min(customers, 1000)}")]
    item_ids = [r["Id"] for r in user.rows(f"SELECT * FROM Item MAXRESULTS {min(items, 1000)}")]
    for n in range(invoices):
        add_invoice(user, customer_ids[n % len(customer_ids)], item_ids[n % len(item_ids)])
    time.sleep(1.1)  # QuickBooks' times have whole seconds
    edit(user, "Customer", 1)
    edit(user, "Item", 1)


def add_invoice(user: Wire, customer_id: str, item_id: str) -> None:
    line = {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": 10}
    body = {
        "CustomerRef": {"value": customer_id},
        "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": line}],
    }
    user.post("invoice", body)


def edit(user: Wire, entity: str, count: int) -> None:
    """`count` sparse updates of `entity`, as an edit saved in QuickBooks."""
    field = {"Customer": "CompanyName", "Item": "Description"}[entity]
    for record in user.rows(f"SELECT * FROM {entity} ORDER BY Id DESC MAXRESULTS {count}"):
        body = {"Id": record["Id"], "SyncToken": record["SyncToken"], "sparse": True, field: f"Edited {time.time()}"}
        user.post(entity.lower(), body)


def make_changes(user: Wire) -> int:
    """The hour's changes in QuickBooks: customers and items edited, invoices added."""
    time.sleep(1.1)  # after the last sync's newest time, to the second
    user.refresh()
    edit(user, "Customer", CHANGES["Customer"])
    edit(user, "Item", CHANGES["Item"])
    customer = user.rows("SELECT * FROM Customer MAXRESULTS 1")[0]["Id"]
    item = user.rows("SELECT * FROM Item MAXRESULTS 1")[0]["Id"]
    for _ in range(CHANGES["Invoice"]):
        add_invoice(user, customer, item)
    time.sleep(1.1)
    return sum(CHANGES.values())


def counted(control: Control, sync) -> tuple[dict, object]:
    """The sandbox's counters over one call of `sync`, and what it returned."""
    control("POST", "counters")
    returned = sync()
    return control("GET", "counters"), returned


def measure_peer(name: str, control: Control, connection: dict, sandbox_url: str, shape: dict, start: datetime):
    sync_once = {"airbyte": airbyte_sync, "singer": singer_sync}[name]
    user = Wire(sandbox_url, connection, "a QuickBooks user")
    build_company(control, user, **shape)
    peer = Wire(sandbox_url, control("GET", "connection"), f"{name}-replay")
    state: dict = {}
    full, _ = counted(control, lambda: sync_once(peer, state, start))
    time.sleep(1.1)  # the next sync comes an hour later: at least past the newest time's second
    idle, idle_items = counted(control, lambda: sync_once(peer, state, start))
    changes = make_changes(user)
    changed, changed_items = counted(control, lambda: sync_once(peer, state, start))
    return full, (idle, idle_items), changes, (changed, changed_items)


def peer_reads(
    sandbox_url: str, control_token: str, *, customers: int, items: int, invoices: int, start_days_ago: int = 29
) -> dict:
    """Per peer: its reads per idle hourly sync (and per day), per sync after 100 changes, counted by
    the sandbox at `sandbox_url` (which this resets and seeds)."""
    control = Control(sandbox_url, control_token)
    start = (datetime.now(timezone.utc) - timedelta(days=start_days_ago)).replace(microsecond=0)
    shape = {"customers": customers, "items": items, "invoices": invoices}
    results = {}
    for name in ("airbyte", "singer"):
        full, (idle, idle_items), changes, (changed, changed_items) = measure_peer(
            name, control, control("GET", "connection"), sandbox_url, shape, start
        )
        results[name] = {
            "source": AIRBYTE_SOURCE if name == "airbyte" else SINGER_SOURCE,
            "streams": AIRBYTE_ENTITIES if name == "airbyte" else [*SINGER_ENTITIES, "ProfitAndLoss", "CDC"],
            "idle_reads_per_sync": idle["total"],
            "idle_reads_per_day": idle["total"] * 24,
            "reads_per_sync_after_100_changes": changed["total"],
            "changes": changes,
            "initial_full_sync_reads": full["total"],
            "full_refresh_reads_per_sync": full["total"],  # a sync without state reads all of it again
            "idle_calls": idle["calls"],
            "after_changes_calls": changed["calls"],
            "token_refreshes_per_sync": idle["token_calls"],  # not metered
        }
        if name == "singer":  # if Intuit meters each query inside a batch, not the batch call
            results[name]["idle_reads_per_sync_counting_batch_items"] = _with_items(idle, idle_items)
            results[name]["after_100_changes_counting_batch_items"] = _with_items(changed, changed_items)
    return {"company": shape, "start_date_days_ago": start_days_ago, "notes": notes(start_days_ago), **results}


def _with_items(counters: dict, items_sent: int) -> int:
    return counters["total"] - counters["calls"].get("batch 200", 0) + items_sent


def notes(start_days_ago: int) -> list[str]:
    empty_slices = math.ceil(start_days_ago / 30)
    return [
        "Counted by the sandbox (GET /_sandbox/counters); token refreshes are listed apart (not metered).",
        "Every entity the peers query is one the sandbox's query accepts; those it holds no rows of answer "
        "an empty QueryResponse, one call per page as in QuickBooks.",
        "Singer's reports/ProfitAndLoss call: the sandbox has no reports endpoint and answers a fault "
        "(counted: QuickBooks would answer and count it).",
        f"Airbyte: a stream that never returned a row re-walks start_date → now in 30-day slices each sync "
        f"({empty_slices} quer{'y' if empty_slices == 1 else 'ies'} with start_date {start_days_ago} days back; "
        "13 with a year).",
        "Singer: the CDC call's changedSince stays at start_date until a deletion is seen; >= 1,000 objects "
        "since then costs 24 more CDC calls; a start_date over 30 days back makes QuickBooks refuse it.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a small company: {QUICK}")
    parser.add_argument("--start-days-ago", type=int, default=29)
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    sandbox = Sandbox()
    try:
        result = peer_reads(
            sandbox.url, sandbox.connection["control_token"], **shape, start_days_ago=args.start_days_ago
        )
    finally:
        sandbox.stop()
    print(
        f"company: {shape['customers']:,} customers, {shape['items']:,} items, {shape['invoices']:,} invoices; "
        f"start_date {args.start_days_ago} days back; reads counted by the sandbox"
    )
    print(f"{'peer':<8} {'idle/sync':>10} {'idle/day':>10} {'after 100 changes':>18} {'initial full sync':>18}")
    for name in ("airbyte", "singer"):
        r = result[name]
        print(
            f"{name:<8} {r['idle_reads_per_sync']:>10} {r['idle_reads_per_day']:>10} "
            f"{r['reads_per_sync_after_100_changes']:>18} {r['initial_full_sync_reads']:>18}"
        )
    singer = result["singer"]
    print(
        f"singer counting each query in a batch: idle {singer['idle_reads_per_sync_counting_batch_items']}/sync, "
        f"after 100 changes {singer['after_100_changes_counting_batch_items']}/sync"
    )
    for note in result["notes"]:
        print(f"- {note}")
    write_result("peer_reads", {"machine": machine(), "peak_rss_mb": peak_rss_mb(), **result})


if __name__ == "__main__":
    main()

"""Full pull and an incremental hour: 100,000 customers + 10,000 items into a fresh database.

Runs the same code the `customers` and `items` assets call, against a sandbox with limits off and no
latency, then with realistic latency: a base per call plus a cost per returned row (the API-bound time). Prints figures beside their
lower bounds (⌈N/1000⌉ pages) and writes benchmarks/results/full_pull.json (SQLite; PostgreSQL too
when QB_TEST_POSTGRES_URL is set). Fails only when a result
is wrong (row counts).

    .venv/bin/python -m benchmarks.full_pull [--customers 100000] [--items 10000] [--latency-ms 150]
                                             [--latency-per-row-ms 1]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import timedelta

from benchmarks.harness import (
    connect,
    database_kinds,
    drop_database,
    fresh_database,
    machine,
    peak_rss_mb,
    write_result,
)
from benchmarks.sandbox_process import Sandbox
from qb_pipeline.db.models import Customer
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.pull import pull_name_list


def calls(sandbox: Sandbox) -> dict:
    return sandbox.control("GET", "counters")["calls"]


def run(kind: str, customers: int, items: int, latency_ms: int, per_row_ms: float = 0.0) -> dict:
    sandbox = Sandbox(
        "--customers",
        str(customers),
        "--items",
        str(items),
        "--latency-ms",
        str(latency_ms),
        "--latency-per-row-ms",
        str(per_row_ms),
    )
    url = fresh_database(kind)
    try:
        engine, gateway = connect(sandbox, url)
        time.sleep(2.1)  # QBO times have whole seconds: keep the seed out of the incremental pull's 1 s overlap
        sandbox.control("POST", "counters")
        started = time.perf_counter()
        for entity in ("Customer", "Item"):
            pull_name_list(gateway, engine, entity)
        full_seconds = time.perf_counter() - started
        full_calls = calls(sandbox)
        with session_scope(engine) as session:
            mirrored = session.query(Customer).count()
        if mirrored != customers:
            raise SystemExit(f"wrong result: {mirrored} customers mirrored, {customers} in QuickBooks")

        # An incremental hour: 100 customers change in QuickBooks.
        qb = gateway.connection.client()
        ids = [c["Id"] for c in qb.query("SELECT * FROM Customer MAXRESULTS 100")["QueryResponse"]["Customer"]]
        for record_id in ids:
            current = qb.get_single_object("Customer", record_id)["Customer"]
            qb.update_object(
                "Customer",
                json.dumps(
                    {"Id": record_id, "SyncToken": current["SyncToken"], "sparse": True, "CompanyName": "Changed"}
                ),
            )
        time.sleep(1.1)
        sandbox.control("POST", "counters")
        started = time.perf_counter()
        changed = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1))
        incremental_seconds = time.perf_counter() - started
        engine.dispose()
        return {
            "database": kind,
            "customers": customers,
            "items": items,
            "latency_ms": latency_ms,
            "latency_per_row_ms": per_row_ms,
            # what the sandbox's latency alone costs, one page after another: the API-bound time
            "latency_bound_seconds": round(
                (math.ceil(customers / 1000) + math.ceil(items / 1000)) * latency_ms / 1000
                + (customers + items) * per_row_ms / 1000,
                1,
            ),
            "full_pull_seconds": round(full_seconds, 2),
            "full_pull_rows_per_second": round((customers + items) / full_seconds),
            "full_pull_api_calls": full_calls,
            "full_pull_query_calls": full_calls.get("query 200", 0),
            "lower_bound_pages": math.ceil(customers / 1000) + math.ceil(items / 1000),
            "incremental_changes": len(ids),
            "incremental_mode": changed.mode,
            "incremental_pulled": changed.pulled,
            "incremental_seconds": round(incremental_seconds, 3),
            "incremental_api_calls": calls(sandbox),
        }
    finally:
        sandbox.stop()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument(
        "--latency-per-row-ms",
        type=float,
        default=1.0,
        help="the sandbox's cost per returned row (a 1,000-row page costs 1–3 s at Intuit)",
    )
    args = parser.parse_args()
    runs = [run(kind, args.customers, args.items, 0) for kind in database_kinds()]
    runs.append(run("sqlite", args.customers, args.items, args.latency_ms, args.latency_per_row_ms))
    for r in runs:
        print(
            f"[{r['database']}, latency {r['latency_ms']} ms + {r['latency_per_row_ms']} ms/row] full pull of {r['customers']:,} customers + "
            f"{r['items']:,} items in {r['full_pull_seconds']} s ({r['full_pull_rows_per_second']:,} rows/s), "
            f"{r['full_pull_query_calls']} query calls (lower bound {r['lower_bound_pages']}; latency alone "
            f"{r['latency_bound_seconds']} s); "
            f"incremental hour ({r['incremental_changes']} changes): {r['incremental_pulled']} pulled by "
            f"{r['incremental_mode']} in {r['incremental_seconds']} s, calls {r['incremental_api_calls']}"
        )
    write_result("full_pull", {"machine": machine(), "peak_rss_mb": peak_rss_mb(), "runs": runs})


if __name__ == "__main__":
    main()

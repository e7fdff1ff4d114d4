"""Full pull and an incremental hour: 100,000 customers + 10,000 items into a fresh database.

Runs the same code the `customers` and `items` assets call, each configuration in its own process (so
its peak RSS is its own):
1. limits off, no latency, on each database: the local CPU-bound time, best of `--rounds` taking turns;
   PostgreSQL / SQLite;
2. QuickBooks' latency (a base per call + a cost per returned row) and its real limits (10/s, 500/min,
   10 at once): overlapped paging (the default) and one page at a time; overlapped / one at a time, and
   overlapped against its goal, 1.3 × the larger of (the rate-limit bound, the zero-latency time);
3. with BENCH_SCALE=1m (or --scale 1m): 1,000,000 customers at zero latency — peak RSS and time against
   11 × the 100k pull.
Prints figures beside their lower bounds and writes benchmarks/results/full_pull.json (SQLite;
PostgreSQL too when QB_TEST_POSTGRES_URL is set). Fails only when a result is wrong (row counts).

    .venv/bin/python -m benchmarks.full_pull [--customers 100000] [--items 10000] [--latency-ms 150]
                                             [--latency-per-row-ms 1] [--rounds 2] [--scale 1m]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from datetime import timedelta

from benchmarks.harness import (
    connect,
    database_kinds,
    drop_database,
    fresh_database,
    machine,
    peak_rss_mb,
    unthrottled,
    write_result,
)
from benchmarks.harness import (
    in_own_process as run_in_own_process,
)
from benchmarks.sandbox_process import Sandbox
from qb_pipeline.db.models import Customer
from qb_pipeline.db.session import session_scope
from qb_pipeline.quickbooks.paging import PAGES_IN_FLIGHT
from qb_pipeline.quickbooks.queries import PAGE_SIZE
from qb_pipeline.sandbox.limits import REAL_CONCURRENCY, REAL_RATES
from qb_pipeline.sync.pull import pull_name_list


def calls(sandbox: Sandbox) -> dict:
    return sandbox.control("GET", "counters")


def sandbox_peak_rss_mb(sandbox: Sandbox) -> int | None:
    try:
        status = open(f"/proc/{sandbox.process.pid}/status").read()
    except OSError:
        return None
    peak = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return round(int(peak) / 1024) if peak else None


def run(config: dict) -> dict:
    """One pull configuration, in this process; returns its figures."""
    customers, items, latency_ms, per_row_ms = (
        config["customers"],
        config["items"],
        config["latency_ms"],
        config["latency_per_row_ms"],
    )
    sandbox = Sandbox(
        "--customers",
        str(customers),
        "--items",
        str(items),
        "--latency-ms",
        str(latency_ms),
        "--latency-per-row-ms",
        str(per_row_ms),
        "--limits",
        config["limits"],
    )
    url = fresh_database(config["database"])
    try:
        engine, gateway = connect(sandbox, url, pages_in_flight=config["pages_in_flight"])
        if config["limits"] == "off":
            unthrottled(gateway)  # our throttle too: its rate windows would pace the pull
        time.sleep(2.1)  # QBO times have whole seconds: keep the seed out of the incremental pull's 1 s overlap
        sandbox.control("POST", "counters")
        cpu_started, started = time.process_time(), time.perf_counter()
        for entity in ("Customer", "Item"):
            pull_name_list(gateway, engine, entity)
        full_seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        full_calls = calls(sandbox)
        with session_scope(engine) as session:
            mirrored = session.query(Customer).count()
        if mirrored != customers:
            raise SystemExit(f"wrong result: {mirrored} customers mirrored, {customers} in QuickBooks")

        incremental = {}
        if config.get("incremental", True):
            incremental = incremental_hour(sandbox, gateway, engine)
        engine.dispose()
        pages = math.ceil(customers / PAGE_SIZE) + math.ceil(items / PAGE_SIZE)
        return {
            **config,
            "full_pull_seconds": round(full_seconds, 2),
            "client_cpu_seconds": round(cpu_seconds, 2),
            "full_pull_rows_per_second": round((customers + items) / full_seconds),
            "full_pull_api_calls": full_calls["calls"],
            "full_pull_query_calls": full_calls["calls"].get("query 200", 0),
            "http_429": full_calls["calls"].get("query 429", 0),
            "most_in_flight": full_calls.get("most_in_flight"),
            "lower_bound_pages": pages,
            # what the sandbox's latency alone costs, one page after another
            "latency_bound_seconds": round(pages * latency_ms / 1000 + (customers + items) * per_row_ms / 1000, 1),
            "peak_rss_mb": peak_rss_mb(),
            "sandbox_peak_rss_mb": sandbox_peak_rss_mb(sandbox),
            **incremental,
        }
    finally:
        sandbox.stop()
        drop_database(url)


def incremental_hour(sandbox: Sandbox, gateway, engine) -> dict:
    """100 customers change in QuickBooks; one pull brings them in."""
    qb = gateway.connection.client()
    ids = [c["Id"] for c in qb.query("SELECT * FROM Customer MAXRESULTS 100")["QueryResponse"]["Customer"]]
    for record_id in ids:
        current = qb.get_single_object("Customer", record_id)["Customer"]
        qb.update_object(
            "Customer",
            json.dumps({"Id": record_id, "SyncToken": current["SyncToken"], "sparse": True, "CompanyName": "Changed"}),
        )
    time.sleep(1.1)
    sandbox.control("POST", "counters")
    started = time.perf_counter()
    changed = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1))
    return {
        "incremental_changes": len(ids),
        "incremental_mode": changed.mode,
        "incremental_pulled": changed.pulled,
        "incremental_seconds": round(time.perf_counter() - started, 3),
        "incremental_api_calls": calls(sandbox)["calls"],
    }


def in_own_process(config: dict) -> dict:
    return run_in_own_process("benchmarks.full_pull", config)


def best_rounds(configs: list[dict], rounds: int) -> dict[str, dict]:
    """Each configuration `rounds` times, taking turns (so a slow spell of the machine falls on each), by
    database; each keeps its best round (the machine's noise only ever adds time) and lists them all."""
    samples: dict[str, list[dict]] = {config["database"]: [] for config in configs}
    for _round in range(rounds):
        for config in configs:
            samples[config["database"]].append(in_own_process(config))
    return {
        kind: {
            **min(runs, key=lambda run: run["full_pull_seconds"]),
            "rounds_seconds": [run["full_pull_seconds"] for run in runs],
        }
        for kind, runs in samples.items()
    }


def rate_limit_bound(customers: int, items: int, latency_ms: int, per_row_ms: float) -> float:
    """The least time QuickBooks' limits allow for this pull: its calls (two counts and the pages) at
    10 per second and 500 per minute, and its pages' latency spread over 10 requests at once."""
    pages = [min(PAGE_SIZE, n - start) for n in (customers, items) for start in range(0, n, PAGE_SIZE)]
    calls_needed = len(pages) + 2
    by_rate = max(calls_needed / REAL_RATES["second"], (math.ceil(calls_needed / REAL_RATES["minute"]) - 1) * 60.0)
    by_concurrency = sum(latency_ms + per_row_ms * rows for rows in pages) / 1000 / REAL_CONCURRENCY
    return round(max(by_rate, by_concurrency), 1)


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
    parser.add_argument(
        "--rounds", type=int, default=2, help="zero-latency pulls per database, taking turns; the best counts"
    )
    parser.add_argument("--scale", choices=["1m"], default=os.environ.get("BENCH_SCALE") or None)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one configuration, run by main in a child
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(json.loads(args.one))))
        return

    shape = {"customers": args.customers, "items": args.items}
    local = {"latency_ms": 0, "latency_per_row_ms": 0.0, "limits": "off", "pages_in_flight": PAGES_IN_FLIGHT}
    real = {"latency_ms": args.latency_ms, "latency_per_row_ms": args.latency_per_row_ms, "limits": "real"}
    zero = best_rounds([{"database": kind, **shape, **local} for kind in database_kinds()], args.rounds)
    # The incremental hour runs where limits are off: its 200 setup calls are not throttled.
    overlapped = in_own_process(
        {"database": "sqlite", **shape, **real, "pages_in_flight": PAGES_IN_FLIGHT, "incremental": False}
    )
    one_at_a_time = in_own_process({"database": "sqlite", **shape, **real, "pages_in_flight": 1, "incremental": False})
    bound = rate_limit_bound(args.customers, args.items, args.latency_ms, args.latency_per_row_ms)
    goal = round(1.3 * max(bound, zero["sqlite"]["full_pull_seconds"]), 1)
    summary = {
        "postgresql_over_sqlite": round(
            zero["postgresql"]["full_pull_seconds"] / zero["sqlite"]["full_pull_seconds"], 2
        )
        if "postgresql" in zero
        else None,
        "overlapped_over_one_at_a_time": round(overlapped["full_pull_seconds"] / one_at_a_time["full_pull_seconds"], 2),
        "rate_limit_bound_seconds": bound,
        "overlapped_goal_seconds": goal,
        "overlapped_within_goal": overlapped["full_pull_seconds"] <= goal,
    }
    runs = [*zero.values(), overlapped, one_at_a_time]
    if args.scale == "1m":
        scale = in_own_process(
            {"database": "sqlite", "customers": 1_000_000, "items": 0, **local, "incremental": False}
        )
        summary["scale_over_100k"] = round(scale["full_pull_seconds"] / zero["sqlite"]["full_pull_seconds"], 1)
        runs.append(scale)
    for r in runs:
        print(
            f"[{r['database']}, latency {r['latency_ms']} ms + {r['latency_per_row_ms']} ms/row, limits {r['limits']}, "
            f"{r['pages_in_flight']} pages in flight] full pull of {r['customers']:,} customers + {r['items']:,} items "
            f"in {r['full_pull_seconds']} s ({r['full_pull_rows_per_second']:,} rows/s, client CPU "
            f"{r['client_cpu_seconds']} s), {r['full_pull_query_calls']} query calls (lower bound "
            f"{r['lower_bound_pages']} pages), {r['http_429']} × 429, most in flight {r['most_in_flight']}; "
            f"peak RSS {r['peak_rss_mb']} MB (sandbox {r['sandbox_peak_rss_mb']} MB)"
            + (
                f"; incremental hour ({r['incremental_changes']} changes): {r['incremental_pulled']} pulled by "
                f"{r['incremental_mode']} in {r['incremental_seconds']} s"
                if "incremental_seconds" in r
                else ""
            )
        )
    print(
        f"PostgreSQL / SQLite: {summary['postgresql_over_sqlite']}; overlapped / one page at a time: "
        f"{summary['overlapped_over_one_at_a_time']}; overlapped {overlapped['full_pull_seconds']} s against the goal "
        f"{goal} s (1.3 × max(rate-limit bound {bound} s, zero-latency {zero['sqlite']['full_pull_seconds']} s))"
        + (f"; 1M customers: {summary['scale_over_100k']} × the 100k pull" if "scale_over_100k" in summary else "")
    )
    write_result(
        "full_pull",
        {"machine": machine(), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "summary": summary, "runs": runs},
    )


if __name__ == "__main__":
    main()

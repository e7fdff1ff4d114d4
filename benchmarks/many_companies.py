"""Many companies on Dagster's production topology (issue 27, Measured): full pulls, an hourly cycle, orders.

The stack is the topology's (qb_pipeline_tests/topology/): code server, webserver and `dagster-daemon run`
with dagster.yaml's run queue (max_concurrent_runs, one run per company), Dagster's instance and the project
database on PostgreSQL, and one sandbox process serving COMPANIES + 1 companies, each seeded with CUSTOMERS
customers and ITEMS items under Intuit's real limits and LATENCY_MS per call. Measured, from Dagster's run
records (its PostgreSQL) and the sandbox's dumps:
  (a) one company's full pull alone: the default company's first sync, before any other is connected;
  (b) COMPANIES full pulls launched together: the other companies connected at once, so the automation
      sensor requests every first sync in one tick (one run per partition); wall from the first start to
      the last end, beside the goal 1.5 × (a) × ⌈COMPANIES / max_concurrent_runs⌉;
  (c) the hourly cycle of those idle companies: hourly_sync_job launched for each partition through the
      webserver, as the schedule requests it; wall until all ended (goal ≤ 60 s);
  (d) memory: summed peak RSS of the stack's processes (sampled while it runs; a run's own process counts
      while it lives);
  (e) ORDERS orders spread over the companies, each timed until its invoice is in ITS company's dump
      (goal p95 < 10 s).
Fails (exit 1) only on a wrong result: an order not invoiced, invoiced twice or in another company, a
run not successful, or a customer or item of QuickBooks missing from the project database.

    QB_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m benchmarks.many_companies
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.harness import RESULTS, machine
from benchmarks.many_companies_stack import (
    first_sync_spans,
    hourly_cycle,
    missing_rows,
    order_latencies,
    stop_schedules,
)
from benchmarks.order_latency import peak_rss_mb_of_tree
from qb_pipeline_tests.topology.processes import POSTGRES_URL_VARIABLE, Topology, postgres_server_url
from qb_pipeline_tests.topology.scenario import wait_for_the_first_sync

MAX_CONCURRENT_RUNS = 4  # deploy/dagster.yaml's concurrency.runs.max_concurrent_runs
GOALS = {"hourly_cycle_seconds": 60, "order_p95_seconds": 10}


class MemorySampler(threading.Thread):
    """The highest summed peak RSS of the process tree under `root`, sampled every `every` seconds."""

    def __init__(self, root: int, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.root, self.every, self.peak_mb = root, every, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak_mb = max(self.peak_mb, peak_rss_mb_of_tree(self.root))
            self._halt.wait(self.every)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak_mb = max(self.peak_mb, peak_rss_mb_of_tree(self.root))
        return self.peak_mb


def measure(folder: Path, server: str, *, companies: int, customers: int, items: int, orders: int, latency_ms: int):
    options = ("--customers", str(customers), "--items", str(items), "--latency-ms", str(latency_ms))
    # real limits; the records are a company's existing books (changed days ago), so an idle hour is idle
    options += ("--limits", "real", "--age-days", "2")
    stack = Topology(folder, server, companies=companies + 1, sandbox_options=options, connect_at_start=False)
    memory = MemorySampler(os.getpid())
    with stack as topology:
        memory.start()
        stop_schedules(topology)
        alone, *fleet = topology.sandbox.realm_ids()
        # (a): companies_sensor adds the bundled sandbox's default company on a fresh stack; nothing else runs
        wait_for_the_first_sync(topology, [alone], timeout=900)
        single = first_sync_spans(topology, [alone])[alone]
        topology.connect_companies(fleet)  # (b): every other company's first sync requested in one tick
        wait_for_the_first_sync(topology, fleet, timeout=3600)
        pulls = first_sync_spans(topology, fleet)
        missing = missing_rows(topology, [alone, *fleet])
        hourly = hourly_cycle(topology, fleet)
        latencies = order_latencies(topology, fleet, orders)
        peak = memory.stop()  # while the stack's processes live: their peaks go with them
    wall = max(end for _, end, _ in pulls.values()) - min(start for start, _, _ in pulls.values())
    single_seconds = single[1] - single[0]
    return {
        "companies": companies,
        "customers": customers,
        "items": items,
        "latency_ms": latency_ms,
        "limits": "real",
        "max_concurrent_runs": MAX_CONCURRENT_RUNS,
        "single_pull_seconds": round(single_seconds, 1),
        "slowest_pull_among_together_seconds": round(max(longest for _, _, longest in pulls.values()), 1),
        "together_seconds": round(wall, 1),
        "together_goal_seconds": round(1.5 * single_seconds * math.ceil(companies / MAX_CONCURRENT_RUNS), 1),
        "rows_missing": missing,
        "hourly": hourly,
        "orders": latencies,
        "peak_rss_mb": peak,
        "goals": GOALS,
    }


def sound(result: dict) -> bool:
    orders = result["orders"]
    return (
        not result["rows_missing"]
        and result["hourly"]["not_successful"] == 0
        and orders["duplicates"] == orders["lost"] == orders["misplaced"] == 0
    )


def report(result: dict) -> str:
    o, h = result["orders"], result["hourly"]
    return "\n".join(
        [
            f"{result['companies']} companies × {result['customers']:,} customers + {result['items']} items, "
            f"limits {result['limits']}, {result['latency_ms']} ms a call; max_concurrent_runs "
            f"{result['max_concurrent_runs']}",
            f"(a) one company's full pull alone:   {result['single_pull_seconds']} s",
            f"(b) {result['companies']} full pulls together:      {result['together_seconds']} s "
            f"(goal ≤ {result['together_goal_seconds']} s = 1.5 × (a) × ⌈{result['companies']} / "
            f"{result['max_concurrent_runs']}⌉); slowest run among them {result['slowest_pull_among_together_seconds']} s",
            f"(c) hourly cycle of idle companies:  {h['seconds']} s (goal ≤ {GOALS['hourly_cycle_seconds']} s), "
            f"{h['runs']} runs, {h['not_successful']} not successful",
            f"(d) memory of the stack (peak RSS):  {result['peak_rss_mb']} MB",
            f"(e) {o['orders']} orders → invoice:          p50 {o['p50_seconds']} s, p95 {o['p95_seconds']} s "
            f"(goal p95 < {GOALS['order_p95_seconds']} s); {o['duplicates']} duplicate, {o['lost']} lost, "
            f"{o['misplaced']} in another company",
            f"rows missing from the project database: {result['rows_missing'] or 'none'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--output", type=Path, default=RESULTS / "many_companies.json")
    args = parser.parse_args(argv)
    server = postgres_server_url()
    if server is None:
        print(f"set {POSTGRES_URL_VARIABLE} to a PostgreSQL server where databases may be created", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="qbp-many-companies-"))
    print(f"starting the stack; logs in {folder}", flush=True)
    result = measure(
        folder,
        server,
        companies=args.companies,
        customers=args.customers,
        items=args.items,
        orders=args.orders,
        latency_ms=args.latency_ms,
    )
    result = {"machine": machine(), "sound": sound(result), **result}
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    print("0 wrong results" if result["sound"] else "WRONG RESULTS")
    return 0 if result["sound"] else 1


if __name__ == "__main__":
    sys.exit(main())

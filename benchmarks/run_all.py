"""`make bench`: every benchmark in its own process, then benchmarks/results/latest.json and a table.

Each benchmark starts its own sandbox and fresh databases and writes benchmarks/results/<name>.json;
this gathers them with the machine they ran on. Benchmarks fail only on a wrong result, never on time.

    .venv/bin/python -m benchmarks.run_all [--quick]   (--quick: small sizes, to check the harness)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone

from benchmarks.harness import PROJECT, RESULTS, database_kinds, machine

FULL = {
    "full_pull": [],
    "push": [],
    "order_latency": ["--orders", "20"],
    "dev_stop": ["--stops", "10"],
    "webhook_latency": ["--changes", "20"],
}
QUICK = {
    "full_pull": ["--customers", "5000", "--items", "500", "--latency-ms", "20"],
    "push": ["--orders", "300", "--limited-orders", "600", "--limits-factor", "0.5"],
    "order_latency": ["--orders", "3"],
    "dev_stop": ["--stops", "2"],
    "webhook_latency": ["--changes", "3"],
}


def table(results: dict) -> list[tuple[str, str, str, str]]:
    """(what, figure, lower bound, peak RSS) rows a person reads."""
    rows = []
    pull = results.get("full_pull", {})
    for r in pull.get("runs", []):
        per_row = r.get("latency_per_row_ms", 0)
        rows.append(
            (
                f"full pull {r['customers']:,} customers + {r['items']:,} items [{r['database']}, "
                f"{r['latency_ms']} ms latency" + (f" + {per_row} ms/row" if per_row else "") + "]",
                f"{r['full_pull_seconds']} s, {r['full_pull_rows_per_second']:,} rows/s, "
                f"{r['full_pull_query_calls']} query calls",
                f"{r['lower_bound_pages']} pages"
                + (f" ≥ {r.get('latency_bound_seconds', 0)} s" if r["latency_ms"] or per_row else ""),
                f"{pull['peak_rss_mb']} MB",
            )
        )
        rows.append(
            (
                f"incremental hour, {r['incremental_changes']} changes [{r['database']}, {r['latency_ms']} ms]",
                f"{r['incremental_seconds']} s, {sum(r['incremental_api_calls'].values())} calls "
                f"({r['incremental_mode']})",
                "1 CDC call",
                "",
            )
        )
    push = results.get("push", {})
    for c in push.get("batched_vs_one_per_call", []):
        b, one = c["batched"], c["one_per_call"]
        rows.append(
            (
                f"push {b['orders']:,} orders × 3 lines, batched [{c['database']}]",
                f"{b['seconds']} s, {b['invoices_per_second']:,} invoices/s, {b['total_calls']} calls",
                f"{c['lower_bound_batches']} batches",
                f"{push['peak_rss_mb']} MB",
            )
        )
        rows.append(
            (
                f"push {one['orders']:,} orders, one invoice per call [{c['database']}]",
                f"{one['seconds']} s, {one['total_calls']} calls: {c['call_ratio']}× the calls, "
                f"{c['time_ratio']}× the time",
                f"{one['orders']} calls",
                "",
            )
        )
    if "under_limits" in push:
        u = push["under_limits"]
        rows.append(
            (
                f"push {u['orders']:,} orders under QBO limits ({u['limits']})",
                f"{u['seconds']} s = {u['fraction_of_theoretical_max']} of the theoretical max, {u['http_429']} × 429",
                f"{u['limit_minimum_seconds']:.0f} s, {u['lower_bound_batches']} batches",
                "",
            )
        )
    latency = results.get("order_latency")
    if latency:
        rows.append(
            (
                f"order → invoice under make dev ({latency['orders']} orders)",
                f"median {latency['median_seconds']} s, p95 {latency['p95_seconds']} s",
                f"sensor interval {latency['sensor_interval_seconds']} s",
                f"{latency['peak_rss_mb']} MB (stack)",
            )
        )
    hook = results.get("webhook_latency")
    if hook:
        rows.append(
            (
                f"QuickBooks change → our row via webhooks ({hook['changes']} changes)",
                f"median {hook['median_seconds']} s, p95 {hook['p95_seconds']} s",
                f"about {hook['floor_seconds']} s (a run's start; + 0–5 s of sensor loop)",
                "",
            )
        )
    stop = results.get("dev_stop")
    if stop:
        rows.append(
            (
                f"Ctrl-C to everything stopped under make dev ({stop['stops']} stops)",
                f"median {stop['median_seconds']} s, slowest {stop['max_seconds']} s",
                f"goal {stop['goal_seconds']} s",
                "",
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results, failed = {}, []
    for name, arguments in (QUICK if args.quick else FULL).items():
        print(f"== {name}", flush=True)
        done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *arguments], cwd=PROJECT)
        if done.returncode != 0:
            failed.append(name)
            continue
        results[name] = json.loads((RESULTS / f"{name}.json").read_text())
    latest = {
        "machine": machine(),
        "databases": database_kinds(),
        "quick": args.quick,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "benchmarks": results,
        "failed": failed,
    }
    (RESULTS / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    rows = [("benchmark", "figure", "lower bound", "peak RSS"), *table(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(f"\n{machine()}")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    print(f"\nwritten to {(RESULTS / 'latest.json').relative_to(PROJECT)}")
    if failed:
        print(f"WRONG RESULTS in: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

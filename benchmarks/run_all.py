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

from benchmarks.harness import POSTGRES_URL_VARIABLE, PROJECT, RESULTS, database_kinds, machine

FULL = {
    "full_pull": [],
    "push": [],
    "order_latency": ["--orders", "20", "--burst", "500"],
    "dev_stop": ["--stops", "5"],
    "webhook_latency": ["--changes", "20"],
    "pricing_import": [],
    "read_meter": [],
    "ar_aging": [],
    "many_companies": [],
}
QUICK = {
    "full_pull": ["--customers", "5000", "--items", "500", "--latency-ms", "20", "--rounds", "1"],
    "push": ["--orders", "300", "--limited-orders", "600", "--limits-factor", "0.5", "--rounds", "1"],
    "order_latency": ["--orders", "3", "--burst", "30", "--burst-seconds", "2"],
    "dev_stop": ["--stops", "2"],
    "webhook_latency": ["--changes", "3"],
    "pricing_import": ["--customers", "50", "--items", "100"],
    "read_meter": ["--quick", "--hours", "3", "--busy-hours", "1"],
    "ar_aging": ["--invoices", "3000", "--payments", "2400", "--customers", "100", "--rounds", "1"],
    "many_companies": ["--companies", "4", "--customers", "500", "--items", "50", "--orders", "20"],
}

NEEDS_POSTGRES = {"many_companies"}  # the production topology: Dagster's instance on PostgreSQL

Row = tuple[str, str, str, str]


def table(results: dict) -> list[Row]:
    """(what, figure, lower bound, peak RSS) rows a person reads."""
    return [
        row
        for rows_of in (
            _pull_rows,
            _push_rows,
            _latency_rows,
            _webhook_rows,
            _pricing_rows,
            _aging_rows,
            _stop_rows,
            _read_rows,
            _many_rows,
        )
        for row in rows_of(results)
    ]


def _pull_rows(results: dict) -> list[Row]:
    """Full pulls (and the incremental hour after each)."""
    rows = []
    pull = results.get("full_pull", {})
    summary = pull.get("summary", {})
    for r in pull.get("runs", []):
        per_row = r.get("latency_per_row_ms", 0)
        latency = f"{r['latency_ms']} ms + {per_row} ms/row, limits {r['limits']}" if r["latency_ms"] else "no latency"
        overlapped = r["latency_ms"] and r["pages_in_flight"] > 1
        ratio = ""
        if r["database"] == "postgresql" and summary.get("postgresql_over_sqlite"):
            ratio = f"; {summary['postgresql_over_sqlite']}× SQLite"
        if overlapped and summary.get("overlapped_over_one_at_a_time"):
            ratio = f"; {summary['overlapped_over_one_at_a_time']}× one page at a time"
        if r["customers"] >= 1_000_000 and summary.get("scale_over_100k"):
            ratio = f"; {summary['scale_over_100k']}× the 100k pull"
        bound = f"{r['lower_bound_pages']} pages"
        if overlapped:
            bound += (
                f"; goal ≤ {summary['overlapped_goal_seconds']} s (1.3 × max(rate limits "
                f"{summary['rate_limit_bound_seconds']} s, zero-latency time))"
            )
        elif r["latency_ms"]:
            bound += f" ≥ {r['latency_bound_seconds']} s one after another"
        rows.append(
            (
                f"full pull {r['customers']:,} customers + {r['items']:,} items [{r['database']}, {latency}, "
                f"{r['pages_in_flight']} page{'s' if r['pages_in_flight'] > 1 else ''} in flight]",
                f"{r['full_pull_seconds']} s"
                + (f" (best of {r['rounds_seconds']})" if len(r.get("rounds_seconds", [])) > 1 else "")
                + f", {r['full_pull_rows_per_second']:,} rows/s{ratio}",
                bound,
                f"{r['peak_rss_mb']} MB (sandbox {r['sandbox_peak_rss_mb']} MB)",
            )
        )
        if "incremental_seconds" in r:
            rows.append(
                (
                    f"incremental hour, {r['incremental_changes']} changes [{r['database']}, {latency}]",
                    f"{r['incremental_seconds']} s, {sum(r['incremental_api_calls'].values())} calls "
                    f"({r['incremental_mode']})",
                    "1 CDC call",
                    "",
                )
            )
    return rows


def _push_rows(results: dict) -> list[Row]:
    """Batched pushes beside one invoice per call, and the push under QBO limits."""
    rows = []
    push = results.get("push", {})
    comparisons = push.get("batched_vs_one_per_call", [])
    sqlite_push = next((c["batched"]["seconds"] for c in comparisons if c["database"] == "sqlite"), None)
    for c in comparisons:
        b, one = c["batched"], c["one_per_call"]
        versus = (
            f"; {round(b['seconds'] / sqlite_push, 2)}× SQLite" if c["database"] != "sqlite" and sqlite_push else ""
        )
        rows.append(
            (
                f"push {b['orders']:,} orders × 3 lines, batched [{c['database']}]",
                f"{b['seconds']} s (best of {b.get('rounds_seconds', [b['seconds']])}), "
                f"{b['invoices_per_second']:,} invoices/s, {b['total_calls']} calls{versus}",
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
    return rows


def _latency_rows(results: dict) -> list[Row]:
    """Order to invoice under make dev, one at a time and in a burst."""
    rows = []
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
        burst = latency.get("burst")
        if burst:
            rows.append(
                (
                    f"burst of {burst['orders']} orders in {burst['burst_seconds']:g} s under make dev",
                    f"all invoiced in {burst['all_invoiced_seconds']} s; p50 {burst['p50_seconds']} s, "
                    f"p95 {burst['p95_seconds']} s",
                    f"{burst['lower_bound_batches']} batches ≥ {burst['lower_bound_seconds']} s; "
                    f"last order written at {burst['write_seconds']} s",
                    f"{burst['peak_rss_mb']} MB (stack)",
                )
            )
    return rows


def _webhook_rows(results: dict) -> list[Row]:
    """A QuickBooks change to our row, through webhooks."""
    rows = []
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
    return rows


def _pricing_rows(results: dict) -> list[Row]:
    """Pricing import and export."""
    rows = []
    pricing = results.get("pricing_import")
    for r in pricing.get("runs", []) if pricing else []:
        goals = pricing["goals"]
        for name, what in (("import", "pricing import"), ("import_changed", "pricing re-import, every price changed")):
            rows.append(
                (
                    f"{what}, {r['rows']:,} rows [{r['database']}]",
                    f"{r[name]['seconds']} s; an order meanwhile waited ≤ {r[name]['write_wait_max_seconds']} s",
                    f"goal < {goals['import_seconds']} s; a write waits ≤ {goals['write_wait_seconds']} s",
                    f"{r[name]['peak_rss_mb']} MB (goal < {goals['import_peak_rss_mb']})",
                )
            )
        rows.append(
            (
                f"pricing export, {r['rows']:,} prices [{r['database']}]",
                f"{r['export']['seconds']} s; an order meanwhile waited ≤ {r['export']['write_wait_max_seconds']} s",
                f"a write waits ≤ {goals['write_wait_seconds']} s",
                f"{r['export']['peak_rss_mb']} MB (goal < {goals['export_peak_rss_mb']})",
            )
        )
    return rows


def _aging_rows(results: dict) -> list[Row]:
    """A/R aging from the mirror."""
    aging = results.get("ar_aging")
    return [
        (
            f"ar_aging of {aging['invoices']:,} invoices ({aging['payments']:,} payments) [{r['database']}]",
            f"{r['ar_aging_seconds']} s for {r['customers_aged']:,} customers; pull {r['pull_seconds']} s",
            f"goal < {aging['goal_seconds']} s",
            f"{r['peak_rss_mb']} MB",
        )
        for r in (aging or {}).get("runs", [])
    ]


def _stop_rows(results: dict) -> list[Row]:
    """Ctrl-C to everything stopped."""
    rows = []
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


def _read_rows(results: dict) -> list[Row]:
    """QuickBooks reads (metered by Intuit), ours beside the goals and the public connectors'."""
    meter = results.get("read_meter")
    if not meter:
        return []
    ours, peers = meter["ours"], meter.get("peers", {})

    def peer(key: str) -> str:
        figures = [f"{name} {peers[name][key]}" for name in ("airbyte", "singer") if name in peers]
        return f"; peers: {', '.join(figures)}" if figures else ""

    return [
        (
            "QuickBooks reads, idle company (hourly sync)",
            f"{max(ours['idle_reads_per_hour'])} an hour, {ours['idle_reads_per_day']} a day"
            + peer("idle_reads_per_day"),
            "goal ≤ 1 an hour, ≤ 24 a day",
            "",
        ),
        (
            "QuickBooks reads, idle company, QB_PULL_ON_WEBHOOKS_ONLY",
            f"{ours['webhooks_reads_per_day']} a day (the daily catch-up)",
            "goal ≤ the daily catch-up",
            "",
        ),
        (
            "QuickBooks reads, 100 changes an hour",
            f"{max(ours['busy_reads_per_hour'])} an hour" + peer("reads_per_sync_after_100_changes"),
            "goal ≤ 2 an hour",
            f"{meter['peak_rss_mb']} MB",
        ),
    ]


def _many_rows(results: dict) -> list[Row]:
    """Many companies on the production topology (PostgreSQL: skipped without QB_TEST_POSTGRES_URL)."""
    many = results.get("many_companies")
    if not many:
        return []
    size = f"{many['companies']} companies × {many['customers']:,} customers + {many['items']} items"
    orders = many["orders"]
    return [
        (
            f"full pull, one company alone ({many['customers']:,} customers + {many['items']} items)",
            f"{many['single_pull_seconds']} s",
            f"limits {many['limits']}, {many['latency_ms']} ms a call",
            "",
        ),
        (
            f"full pulls of {size}, launched together",
            f"{many['together_seconds']} s (slowest pull {many['slowest_pull_among_together_seconds']} s)",
            f"goal ≤ {many['together_goal_seconds']} s, max_concurrent_runs {many['max_concurrent_runs']}",
            f"{many['peak_rss_mb']} MB (stack)",
        ),
        (
            f"hourly cycle of {many['companies']} idle companies",
            f"{many['hourly']['seconds']} s",
            f"goal ≤ {many['goals']['hourly_cycle_seconds']} s",
            "",
        ),
        (
            f"{orders['orders']} orders over {many['companies']} companies → invoice in its company",
            f"p50 {orders['p50_seconds']} s, p95 {orders['p95_seconds']} s",
            f"goal p95 < {many['goals']['order_p95_seconds']} s",
            "",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results, failed = {}, []
    for name, arguments in (QUICK if args.quick else FULL).items():
        print(f"== {name}", flush=True)
        if name in NEEDS_POSTGRES and "postgresql" not in database_kinds():
            print(f"skipped: needs PostgreSQL (set {POSTGRES_URL_VARIABLE})", flush=True)
            continue
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
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"\nwritten to {(RESULTS / 'latest.json').relative_to(PROJECT)}")
    if failed:
        print(f"WRONG RESULTS in: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

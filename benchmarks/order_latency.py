"""Order-to-invoice latency under `make dev` defaults: median and p95 over N orders, then a burst.

Starts the real stack (`qb-pipeline dev`: sandbox + dagster dev + daemon) in a temporary folder, adds
orders one at a time the way the order-entry app does (a committed row), and times each until its
invoice exists in the sandbox. Then, in the same stack, a burst: `--burst` orders written evenly over
`--burst-seconds` (one committed row each), timed until every one is invoiced, with each order's
latency p50/p95 and the push runs it took. Fails only on a wrong result: an order not invoiced, or
invoiced twice (invoices counted in the sandbox by their PrivateNote marker). Prints the figures and
writes them to benchmarks/results/.

    .venv/bin/python -m benchmarks.order_latency [--orders 20] [--burst 500] [--burst-seconds 10]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from benchmarks.harness import machine, reckon, write_result
from qb_pipeline import config
from qb_pipeline.db.models import Order, OrderLine, OrderStatus
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.dev_process import DevStack, running_dev_stack
from qb_pipeline.jobs import PUSH_INVOICES_JOB

RUN_START_SECONDS = 3.5  # a trivial run, tick to finish, on this machine (README.md, "Benchmarks": the floor)
BATCH_CALLS_PER_MINUTE = 40  # QuickBooks Online's limit per company
POLL_SECONDS = 0.2
# A burst that makes no progress for this long is stuck: reported as a wrong result, not waited out.
BURST_STALL_SECONDS = 180


def peak_rss_mb_of_tree(root: int) -> int:
    """Summed peak RSS (VmHWM) of `root` and its descendants: sandbox, webserver, daemon, code servers."""
    parents, peaks = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            pid = int(status.parent.name)
            parents[pid] = int(fields["PPid"])
            peaks[pid] = int(fields.get("VmHWM", "0 kB").split()[0])
        except (OSError, KeyError, ValueError):
            continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return round(sum(peaks.get(pid, 0) for pid in tree) / 1024)


def add_order(engine, number: str, n: int) -> None:
    """One order committed alone, as the order-entry app writes it."""
    with session_scope(engine) as session:
        session.add(
            Order(
                order_number=number,
                customer_name="Cool Cars",
                lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal(1 + n % 3))],
            )
        )


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def dev_stack(prefix: str) -> Iterator[DevStack]:
    """`qb-pipeline dev` in a fresh temporary folder (qb_pipeline.dev_process), stopped with Ctrl-C afterwards."""
    with running_dev_stack(Path(tempfile.mkdtemp(prefix=prefix))) as stack:
        yield stack


def nearest_rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (sorted)."""
    return values[max(0, int(round(fraction * len(values))) - 1)]


def burst_lower_bound(orders: int) -> tuple[int, float]:
    """(batches needed, seconds from the first order until all are invoiced at least): over 40 batches
    QuickBooks' batch limit binds (the first minute's 40 go at once), else about a run's start."""
    batches = math.ceil(orders / config.settings().batch_size)  # QB_BATCH_SIZE, as the stack reads it
    if batches > BATCH_CALLS_PER_MINUTE:
        return batches, round((batches / BATCH_CALLS_PER_MINUTE - 1) * 60, 1)
    return batches, RUN_START_SECONDS


def push_runs_since(stack: DevStack, since: datetime, *, settle_seconds: float = 60) -> dict:
    """The runs created since `since`, from the stack's Dagster instance, once no push is active any more
    (or after `settle_seconds`): push runs by status, the due orders each was launched for, other runs by job."""
    with dg.DagsterInstance.from_config(str(stack.home / "dagster")) as instance:
        active = [
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
        ]
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and instance.get_run_records(
            dg.RunsFilter(job_name=PUSH_INVOICES_JOB, statuses=active, created_after=since), limit=1
        ):
            time.sleep(0.5)
        records = instance.get_run_records(dg.RunsFilter(created_after=since))
    records.sort(key=lambda r: r.create_timestamp)
    pushes = [r for r in records if r.dagster_run.job_name == PUSH_INVOICES_JOB]
    return {
        "push_runs": len(pushes),
        "push_run_statuses": dict(Counter(r.dagster_run.status.value for r in pushes)),
        "push_run_due_orders": [r.dagster_run.tags.get("qb_pipeline/due_orders") for r in pushes],
        "push_run_seconds": [
            round(r.end_time - r.start_time, 1) if r.start_time and r.end_time else None for r in pushes
        ],
        "other_runs": dict(
            Counter(r.dagster_run.job_name for r in records if r.dagster_run.job_name != PUSH_INVOICES_JOB)
        ),
    }


def watch_burst(
    reader: sa.Engine,
    prefix: str,
    count: int,
    writing: Future,
    committed: dict[str, float],
    invoiced: dict[str, float],
    start: float,
) -> bool:
    """Poll until every order of the burst is synced with its invoice id, noting when each was first
    seen so in `invoiced`: True then, False when nothing moved for BURST_STALL_SECONDS after the writes."""
    progress_at, last_print = start, start
    while True:
        with reader.connect() as connection:
            synced = connection.scalars(
                sa.select(Order.order_number).where(
                    Order.order_number.startswith(prefix),
                    Order.status == OrderStatus.SYNCED,
                    Order.qb_invoice_id.is_not(None),
                )
            ).all()
        now = time.monotonic()
        for number in synced:
            if number not in invoiced:
                invoiced[number] = now
                progress_at = now
        if writing.done():
            writing.result()  # a failed write fails the benchmark
            if len(invoiced) >= count:
                return True
        else:
            progress_at = now  # still writing
        if now - progress_at > BURST_STALL_SECONDS:
            return False
        if now - last_print >= 2:
            print(f"  burst {now - start:5.1f} s: {len(committed)} written, {len(invoiced)} invoiced", flush=True)
            last_print = now
        time.sleep(POLL_SECONDS)


def stuck_orders(engine: sa.Engine, prefix: str) -> list[dict]:
    """The burst's orders not synced, by status and reason."""
    with session_scope(engine) as session:
        return [
            {"status": status.value, "reason": reason, "orders": orders}
            for status, reason, orders in session.execute(
                sa.select(Order.status, Order.status_reason, sa.func.count())
                .where(Order.order_number.startswith(prefix), Order.status != OrderStatus.SYNCED)
                .group_by(Order.status, Order.status_reason)
            )
        ]


def run_burst(stack: DevStack, engine: sa.Engine, count: int, seconds: float, prefix: str = "BURST-") -> dict:
    """`count` orders written evenly over `seconds`, one committed row each (as the order-entry app
    writes them), timed from each commit until our database holds it synced with its invoice id; then
    every one reckoned against the invoices the sandbox holds."""
    # Polled through a plain engine: its reads take no write lock (make_engine's sessions BEGIN IMMEDIATE
    # on SQLite), so polling never holds back the writes it times or the push.
    reader = sa.create_engine(stack.database_url)
    committed: dict[str, float] = {}
    invoiced: dict[str, float] = {}

    def write() -> None:
        for n in range(count):
            pause = start + n * seconds / count - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            number = f"{prefix}{n:04d}"
            add_order(engine, number, n)
            committed[number] = time.monotonic()

    since = datetime.now(timezone.utc)
    start = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(write)
        stuck = not watch_burst(reader, prefix, count, writing, committed, invoiced, start)
    reader.dispose()
    write_seconds = max(committed.values()) - start
    latencies = sorted(invoiced[n] - committed[n] for n in invoiced)
    batches, bound = burst_lower_bound(count)
    result = {
        "orders": count,
        "burst_seconds": seconds,
        "write_seconds": round(write_seconds, 2),
        "all_invoiced_seconds": None if stuck else round(max(invoiced.values()) - start, 2),
        "p50_seconds": round(statistics.median(latencies), 2) if latencies else None,
        "p95_seconds": round(nearest_rank(latencies, 0.95), 2) if latencies else None,
        "min_seconds": round(latencies[0], 2) if latencies else None,
        "max_seconds": round(latencies[-1], 2) if latencies else None,
        "invoiced_orders": len(invoiced),
        "lower_bound_batches": batches,
        "lower_bound_seconds": bound,
        # Nothing is invoiced before it is written: the last order comes at the end of the writes. (A run
        # started during the burst claims the orders written while it starts, so an order can wait less
        # than a run's start: measured 2.7 s.)
        "lower_bound_all_invoiced_seconds": round(max(write_seconds, bound), 1),
        **push_runs_since(stack, since),
    }
    if stuck:
        result["stuck_orders"] = stuck_orders(engine, prefix)
    result["reckoning"] = reckon(stack.sandbox, engine, prefix).as_dict()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--burst", type=int, default=500, help="orders in the burst after the single ones; 0 skips")
    parser.add_argument("--burst-seconds", type=float, default=10, help="the burst's orders are written over this")
    args = parser.parse_args()
    with dev_stack("qbp-latency-") as stack:
        engine = make_engine(stack.database_url)
        sandbox = stack.sandbox
        latencies = []
        for n in range(args.orders):
            number = f"LAT-{n:03d}"
            add_order(engine, number, n)
            committed = time.monotonic()
            wait(
                lambda number=number: any(
                    r.get("DocNumber") == number for r in sandbox.control("GET", "dump/Invoice")["records"]
                ),
                120,
                number,
            )
            latencies.append(time.monotonic() - committed)
            print(f"{number}: {latencies[-1]:.2f} s", flush=True)
        latencies.sort()
        result = {
            "benchmark": "order_to_invoice_latency",
            "orders": len(latencies),
            "median_seconds": round(statistics.median(latencies), 2),
            "p95_seconds": round(nearest_rank(latencies, 0.95), 2),
            "min_seconds": round(latencies[0], 2),
            "max_seconds": round(latencies[-1], 2),
            "sensor_interval_seconds": config.sensor_interval_seconds(),
            "machine": machine(),
            "peak_rss_mb": peak_rss_mb_of_tree(stack.process.pid),
        }
        single = reckon(sandbox, engine, "LAT-")
        print(
            f"order to invoice over {result['orders']} orders: median {result['median_seconds']} s, "
            f"p95 {result['p95_seconds']} s (sensor interval {result['sensor_interval_seconds']} s)",
            flush=True,
        )
        if args.burst > 0:
            print(f"burst: {args.burst} orders over {args.burst_seconds:g} s", flush=True)
            burst = run_burst(stack, engine, args.burst, args.burst_seconds)
            burst["peak_rss_mb"] = peak_rss_mb_of_tree(stack.process.pid)
            result["burst"] = burst
    wrong = [] if single.sound else [f"single orders: {single.as_dict()}"]
    if args.burst > 0:
        b = result["burst"]
        print(
            f"burst of {b['orders']} orders written in {b['write_seconds']} s: all invoiced in "
            f"{b['all_invoiced_seconds']} s (at least {b['lower_bound_all_invoiced_seconds']} s, "
            f"{b['lower_bound_batches']} batches); p50 {b['p50_seconds']} s, p95 {b['p95_seconds']} s; "
            f"{b['push_runs']} push runs {b['push_run_statuses']}, due orders {b['push_run_due_orders']}"
        )
        if not b["reckoning"]["sound"] or b["invoiced_orders"] != b["orders"]:
            wrong.append(f"burst: {b['reckoning']} {b.get('stuck_orders', '')}")
    write_result("order_latency", result)
    if wrong:
        raise SystemExit(f"WRONG RESULT ({stack.log_file}): " + "; ".join(wrong))


if __name__ == "__main__":
    main()

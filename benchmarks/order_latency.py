"""Order-to-invoice latency under `make dev` defaults: median and p95 over N orders.

Starts the real stack (`qb-pipeline dev`: sandbox + dagster dev + daemon) in a temporary folder, adds
orders one at a time the way the order-entry app does (a committed row), and times each until its
invoice exists in the sandbox. Prints the figures and writes them to benchmarks/results/.

    .venv/bin/python -m benchmarks.order_latency [--orders 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from benchmarks.harness import machine, write_result
from qb_pipeline import config
from qb_pipeline.db.models import Order, OrderLine
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.dev_process import DevStack, running_dev_stack


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    with dev_stack("qbp-latency-") as stack:
        engine = make_engine(stack.database_url)
        sandbox = stack.sandbox
        latencies = []
        for n in range(args.orders):
            number = f"LAT-{n:03d}"
            with session_scope(engine) as session:
                session.add(
                    Order(
                        order_number=number,
                        customer_name="Cool Cars",
                        lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal(1 + n % 3))],
                    )
                )
            committed = time.monotonic()
            wait(
                lambda: any(r.get("DocNumber") == number for r in sandbox.control("GET", "dump/Invoice")["records"]),
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
            "p95_seconds": round(latencies[max(0, int(round(0.95 * len(latencies))) - 1)], 2),
            "min_seconds": round(latencies[0], 2),
            "max_seconds": round(latencies[-1], 2),
            "sensor_interval_seconds": config.sensor_interval_seconds(),
            "machine": machine(),
            "peak_rss_mb": peak_rss_mb_of_tree(stack.process.pid),
        }
    print(
        f"order to invoice over {result['orders']} orders: median {result['median_seconds']} s, "
        f"p95 {result['p95_seconds']} s (sensor interval {result['sensor_interval_seconds']} s)"
    )
    write_result("order_latency", result)


if __name__ == "__main__":
    main()

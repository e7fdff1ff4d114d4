"""Order-to-invoice latency under `make dev` defaults: median and p95 over N orders.

Starts the real stack (`qb-pipeline dev`: sandbox + dagster dev + daemon) in a temporary folder, adds
orders one at a time the way the order-entry app does (a committed row), and times each until its
invoice exists in the sandbox. Prints the figures and writes them to benchmarks/results/.

    .venv/bin/python benchmarks/order_latency.py [--orders 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="qbp-latency-"))
    ui, sandbox_port = free_port(), free_port()
    env = {**os.environ, "QB_DATA_DIR": str(home / "data")}
    for name in ("QB_DATABASE_URL", "QB_ENVIRONMENT", "QB_SANDBOX_CONNECTION_FILE", "DAGSTER_HOME"):
        env.pop(name, None)
    stack = subprocess.Popen(
        [sys.executable, "-m", "qb_pipeline.cli", "dev", "--port", str(ui), "--sandbox-port", str(sandbox_port),
         "--data-dir", str(home / "data"), "--dagster-home", str(home / "dagster")],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait(lambda: get_json(f"http://127.0.0.1:{ui}/server_info"), 180, "the Dagster UI")
        os.environ["QB_DATA_DIR"] = env["QB_DATA_DIR"]
        from qb_pipeline import config
        from qb_pipeline.db.models import Order, OrderLine
        from qb_pipeline.db.session import make_engine, session_scope

        engine = make_engine(config.database_url())
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        latencies = []
        for n in range(args.orders):
            number = f"LAT-{n:03d}"
            with session_scope(engine) as session:
                session.add(Order(order_number=number, customer_name="Cool Cars",
                                  lines=[OrderLine(line_number=1, item_name="Rocks", quantity=Decimal(1 + n % 3))]))
            committed = time.monotonic()
            wait(lambda: any(r.get("DocNumber") == number
                             for r in get_json(f"{sandbox}/_sandbox/dump/Invoice")["records"]), 120, number)
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
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        }
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        stack.wait(60)
    print(json.dumps(result, indent=2))
    out = PROJECT / "benchmarks" / "results" / "order_latency.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(PROJECT)}")


if __name__ == "__main__":
    main()

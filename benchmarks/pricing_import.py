"""A 100,000-row pricing file: import it (new prices), import a changed one (every price replaced),
export it — each in a process of its own, as the CLI does, for its own peak RSS — while another process
writes an order every 100 ms throughout and times how long each write waited (the longest is given for
each operation too). Writes benchmarks/results/pricing_import.json.
Fails only on a wrong result (a row not applied, a write that failed).

    .venv/bin/python -m benchmarks.pricing_import [--customers 500 --items 200]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from benchmarks.harness import database_kinds, drop_database, fresh_database, machine, peak_rss_mb, write_result
from qb_pipeline.db.models import Customer, CustomerItemPrice, Item, Order
from qb_pipeline.db.session import make_engine, read_scope, session_scope
from qb_pipeline.db.types import utcnow

GOALS = {"import_seconds": 30, "import_peak_rss_mb": 200, "export_peak_rss_mb": 150, "write_wait_seconds": 2}


def child(operation: str, url: str, path: str) -> None:
    """Run one operation in this fresh process, as the CLI does, and print its figures as JSON."""
    from qb_pipeline.sync.pricing_csv import read_pricing_file
    from qb_pipeline.sync.pricing_export import write_pricing
    from qb_pipeline.sync.pricing_stage import import_pricing_file

    engine = make_engine(url)
    started = time.perf_counter()
    if operation == "import":
        report = import_pricing_file(engine, read_pricing_file(Path(path)))
        figures = {"applied": report.applied, "unchanged": report.unchanged, "errors": len(report.errors)}
    else:
        with read_scope(engine) as session, Path(path).open("w", encoding="utf-8", newline="") as file:
            figures = {"rows": write_pricing(session, file)}
    figures.update(seconds=round(time.perf_counter() - started, 2), peak_rss_mb=peak_rss_mb())
    print(json.dumps(figures))


def run_child(operation: str, url: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.pricing_import", "--child", operation, url, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def writer(url: str, stop, waits) -> None:
    """An order every 100 ms, as the order-entry app or a push would write; records each wait."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        customer_id = session.scalar(sa.select(Customer.id).limit(1))
    n = 0
    while not stop.is_set():
        n += 1
        started = time.perf_counter()
        with session_scope(engine) as session:
            session.add(Order(order_number=f"W-{n:06d}", customer_id=customer_id, ordered_at=utcnow()))
        waits.append((time.time(), time.perf_counter() - started))  # (when it was written, how long it waited)
        time.sleep(0.1)


def one_database(kind: str, customers: int, items: int) -> dict:
    url = fresh_database(kind)
    folder = Path(tempfile.mkdtemp(prefix="qbp-pricing-"))
    try:
        engine = make_engine(url)
        with session_scope(engine) as session:
            session.add_all(Customer(display_name=f"Customer {c:05d}") for c in range(customers))
            session.add_all(Item(name=f"Item {i:05d}", unit_price=Decimal("5.00")) for i in range(items))
        rows = customers * items
        files = {}
        for name, cents in (("first", 0), ("changed", 1)):
            path = folder / f"{name}.csv"
            with path.open("w") as file:
                file.write("kind,customer,price_level,item,price,percent,valid_from\n")
                for c in range(customers):
                    file.writelines(
                        f"customer_price,Customer {c:05d},,Item {i:05d},{(c + i) % 900 + 1}.{cents:02d},,\n"
                        for i in range(items)
                    )
            files[name] = path
        manager = multiprocessing.Manager()
        stop, waits = manager.Event(), manager.list()
        write_process = multiprocessing.Process(target=writer, args=(url, stop, waits))
        write_process.start()
        time.sleep(1)
        operations, windows = {}, {}
        for name, operation, path in (
            ("import", "import", files["first"]),
            ("import_changed", "import", files["changed"]),
            ("export", "export", folder / "export.csv"),
        ):
            started = time.time()
            operations[name] = run_child(operation, url, path)
            windows[name] = (started, time.time())
        time.sleep(1)
        stop.set()
        write_process.join(60)
        waits = list(waits)
        for name, (started, ended) in windows.items():  # the longest wait of a write made during each
            during = [wait for at, wait in waits if started <= at <= ended]
            operations[name]["write_wait_max_seconds"] = round(max(during), 2) if during else None
        first, changed, export = operations["import"], operations["import_changed"], operations["export"]
        with engine.connect() as connection:
            open_prices = connection.scalar(
                sa.select(sa.func.count()).select_from(CustomerItemPrice).where(CustomerItemPrice.valid_to.is_(None))
            )
            history = connection.scalar(sa.select(sa.func.count()).select_from(CustomerItemPrice))
            orders = connection.scalar(sa.select(sa.func.count()).select_from(Order))
        wrong = []
        if first["applied"] != rows or changed["applied"] != rows or first["errors"] or changed["errors"]:
            wrong.append(f"imports applied {first['applied']} and {changed['applied']} of {rows} rows")
        if open_prices != rows or history != 2 * rows:
            wrong.append(f"{open_prices} open prices and {history} history rows (expected {rows} and {2 * rows})")
        if export["rows"] != rows:
            wrong.append(f"the export wrote {export['rows']} rows of {rows} prices in force")
        if orders != len(waits) or write_process.exitcode != 0:
            wrong.append(f"{orders} orders written of {len(waits)} attempts (writer exit {write_process.exitcode})")
        engine.dispose()
        return {
            "database": kind,
            "rows": rows,
            "import": first,
            "import_changed": changed,
            "export": export,
            "writes_during": len(waits),
            "write_wait_max_seconds": round(max(wait for _at, wait in waits), 2) if waits else None,
            "write_wait_median_seconds": round(sorted(wait for _at, wait in waits)[len(waits) // 2], 3)
            if waits
            else None,
            "wrong": wrong,
        }
    finally:
        drop_database(url)


def summary(run: dict) -> str:
    """One run's figures, each beside its goal."""
    first, changed, export = run["import"], run["import_changed"], run["export"]

    def waited(figures: dict) -> str:
        return f"an order waited ≤ {figures['write_wait_max_seconds']} s"

    return (
        f"[{run['database']}] import {run['rows']:,} rows: {first['seconds']} s, peak RSS {first['peak_rss_mb']} MB, "
        f"{waited(first)}; every price changed: {changed['seconds']} s, {changed['peak_rss_mb']} MB, "
        f"{waited(changed)} (goals < {GOALS['import_seconds']} s, < {GOALS['import_peak_rss_mb']} MB); "
        f"export {export['seconds']} s, peak RSS {export['peak_rss_mb']} MB (goal < {GOALS['export_peak_rss_mb']} MB), "
        f"{waited(export)}; an order written every 100 ms throughout waited at most {run['write_wait_max_seconds']} s "
        f"(goal ≤ {GOALS['write_wait_seconds']} s; median {run['write_wait_median_seconds']} s, "
        f"{run['writes_during']} writes)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    runs = []
    for kind in database_kinds():
        run = one_database(kind, args.customers, args.items)
        runs.append(run)
        print(summary(run), flush=True)
    write_result("pricing_import", {"machine": machine(), "goals": GOALS, "runs": runs, "peak_rss_mb": peak_rss_mb()})
    wrong = [f"[{run['database']}] {problem}" for run in runs for problem in run["wrong"]]
    if wrong:
        raise SystemExit("WRONG: " + "; ".join(wrong))


if __name__ == "__main__":
    main()

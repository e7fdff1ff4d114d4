"""Pushing orders as invoices: our batched path against one invoice per call, and under QBO's real limits.

1. 10,000 orders of 3 lines, limits off (the sandbox's and our client throttle's), no latency: `push_orders`
   as the `invoices` asset calls it (batches of 30), on each database, best of `--rounds` taking turns
   (PostgreSQL / SQLite); then the same number of orders of the same shape one `POST /invoice` per order
   (the way the project's first version did it). Reports the call ratio and the time ratio.
2. Under `--limits scaled:F` (QBO's limits shape: 10/s, 500/min, 40 batches/min, each × F), with our
   client throttle scaled alike: throughput as a fraction of the most the limits allow.

Lower bounds are printed beside each figure. Fails only when a result is wrong (a lost or duplicated
invoice, a total that differs). Writes benchmarks/results/push.json.

    .venv/bin/python -m benchmarks.push [--orders 10000] [--limited-orders 3000] [--limits-factor 1]
                                        [--rounds 2]
"""

from __future__ import annotations

import argparse
import math
import time
from contextlib import contextmanager

from benchmarks.harness import (
    add_orders,
    build_shop,
    connect,
    database_kinds,
    drop_database,
    fresh_database,
    machine,
    peak_rss_mb,
    reckon,
    unthrottled,
    write_result,
)
from benchmarks.sandbox_process import Sandbox
from qb_pipeline.core.errors import QuickBooksError, QuickBooksValidationError
from qb_pipeline.core.port import WriteOutcome
from qb_pipeline.quickbooks.throttle import DEFAULT_LIMITS, Throttle
from qb_pipeline.sandbox.limits import REAL_RATES
from qb_pipeline.sync.invoices import push_orders

BATCH = 30


class OneInvoicePerCall:
    """The gateway, except that a batch of invoices goes as one create call per record."""

    def __init__(self, gateway) -> None:
        self._gateway = gateway

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def send_batch(self, entity: str, items, request_id: str) -> list[WriteOutcome]:
        outcomes = []
        for key, bid, body in items:
            try:
                outcomes.append(
                    WriteOutcome(key, record=self._gateway.create(entity, body, request_id=f"{request_id}-{bid}"))
                )
            except QuickBooksValidationError as error:
                outcomes.append(WriteOutcome(key, error_code=error.code, error_message=error.qbo_message))
            except QuickBooksError as error:
                outcomes.append(WriteOutcome(key, error_message=str(error), transient=error.transient))
        return outcomes


def timed_push(sandbox: Sandbox, gateway, engine, prefix: str, count: int) -> dict:
    add_orders(engine, count, prefix=prefix)
    sandbox.control("POST", "counters")
    started = time.perf_counter()
    result = push_orders(gateway, engine, f"bench-{prefix}", limit=count)
    seconds = time.perf_counter() - started
    calls = sandbox.control("GET", "counters")
    reckoning = reckon(sandbox, engine, prefix)
    if not reckoning.sound or reckoning.synced != count or result.pushed != count:
        raise SystemExit(f"wrong result pushing {prefix}: {reckoning.as_dict()}, pushed {result.pushed}")
    return {
        "orders": count,
        "seconds": round(seconds, 2),
        "invoices_per_second": round(count / seconds),
        "api_calls": calls["calls"],
        "total_calls": calls["total"],
    }


@contextmanager
def unthrottled_shop(kind: str):
    """A sandbox and a fresh database holding a shop of 500 customers and 100 items; limits off on both
    sides, so what is measured is our code and the wire, not QBO's limits (`under_limits` measures those)."""
    sandbox = Sandbox()
    url = fresh_database(kind)
    try:
        engine, gateway = connect(sandbox, url)
        unthrottled(gateway)
        build_shop(sandbox, gateway, engine, customers=500, items=100)
        yield sandbox, gateway, engine
        engine.dispose()
    finally:
        sandbox.stop()
        drop_database(url)


def batched(kind: str, orders: int) -> dict:
    with unthrottled_shop(kind) as (sandbox, gateway, engine):
        return timed_push(sandbox, gateway, engine, "BATCH", orders)


def one_per_call(kind: str, orders: int) -> dict:
    with unthrottled_shop(kind) as (sandbox, gateway, engine):
        return timed_push(sandbox, OneInvoicePerCall(gateway), engine, "SINGLE", orders)


def compare_databases(orders: int, rounds: int) -> list[dict]:
    """Each database's batched push `rounds` times, the databases taking turns (so a slow spell of the
    machine falls on both), then one invoice per call once each. A push's figure is its best round: the
    machine's noise only ever adds time."""
    kinds = database_kinds()
    samples: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _round in range(rounds):
        for kind in kinds:
            samples[kind].append(batched(kind, orders))
    comparisons = []
    for kind in kinds:
        best = min(samples[kind], key=lambda sample: sample["seconds"])
        single = one_per_call(kind, orders)
        comparisons.append(
            {
                "database": kind,
                "batched": {**best, "rounds_seconds": [sample["seconds"] for sample in samples[kind]]},
                "one_per_call": single,
                "lower_bound_batches": math.ceil(orders / BATCH),
                "call_ratio": round(single["total_calls"] / best["total_calls"], 1),
                "time_ratio": round(single["seconds"] / best["seconds"], 1),
            }
        )
    return comparisons


def under_limits(orders: int, factor: float) -> dict:
    sandbox = Sandbox("--limits", f"scaled:{factor}")
    url = fresh_database("sqlite")
    try:
        throttle = Throttle({name: max(1, math.floor(limit * factor)) for name, limit in DEFAULT_LIMITS.items()})
        engine, gateway = connect(sandbox, url, throttle_wait=5.0)
        gateway.throttle = throttle
        build_shop(sandbox, gateway, engine, customers=200, items=50)
        time.sleep(61)  # the shop's calls leave QBO's minute window before the clock starts
        pushed = timed_push(sandbox, gateway, engine, "LIMITED", orders)
        engine.dispose()
    finally:
        sandbox.stop()
        drop_database(url)
    per_minute = max(1, math.floor(REAL_RATES["batch_minute"] * factor))
    batches = math.ceil(orders / BATCH)
    # A sliding minute lets `per_minute` batches through at once, then `per_minute` more each minute.
    minimum = (math.ceil(batches / per_minute) - 1) * 60.0
    return {
        **pushed,
        "limits": f"scaled:{factor}",
        "batch_calls_per_minute_allowed": per_minute,
        "lower_bound_batches": batches,
        "limit_minimum_seconds": minimum,
        "fraction_of_theoretical_max": round(minimum / pushed["seconds"], 3) if minimum else None,
        "throttle_waits": throttle.waits,
        "http_429": sum(v for k, v in pushed["api_calls"].items() if k.endswith(" 429")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--limited-orders", type=int, default=3_000)
    parser.add_argument("--limits-factor", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2, help="batched pushes per database, taking turns")
    args = parser.parse_args()
    comparisons = compare_databases(args.orders, args.rounds)
    for c in comparisons:
        print(
            f"[{c['database']}] {args.orders:,} orders × 3 lines: batched {c['batched']['seconds']} s (best of "
            f"{c['batched']['rounds_seconds']}), {c['batched']['total_calls']} calls (lower bound "
            f"{c['lower_bound_batches']} batches); one per call {c['one_per_call']['seconds']} s, "
            f"{c['one_per_call']['total_calls']} calls → {c['call_ratio']}× the calls, {c['time_ratio']}× the time",
            flush=True,
        )
    postgresql_over_sqlite = None
    if len(comparisons) == 2:
        postgresql_over_sqlite = round(comparisons[1]["batched"]["seconds"] / comparisons[0]["batched"]["seconds"], 2)
        print(f"PostgreSQL / SQLite, batched: {postgresql_over_sqlite} (goal ≤ 1.2)")
    limited = under_limits(args.limited_orders, args.limits_factor)
    print(
        f"[limits {limited['limits']}] {limited['orders']:,} orders in {limited['seconds']} s; the limits allow "
        f"{limited['batch_calls_per_minute_allowed']} batches/min, so at least "
        f"{limited['limit_minimum_seconds']:.0f} s "
        f"for {limited['lower_bound_batches']} batches → {limited['fraction_of_theoretical_max']} of the theoretical "
        f"max; 429s: {limited['http_429']}"
    )
    write_result(
        "push",
        {
            "machine": machine(),
            "peak_rss_mb": peak_rss_mb(),
            "batched_vs_one_per_call": comparisons,
            "postgresql_over_sqlite": postgresql_over_sqlite,
            "under_limits": limited,
        },
    )


if __name__ == "__main__":
    main()

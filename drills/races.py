"""Races: two push runs at once, and a push racing the hourly job, each on its own batch of orders.

Both run processes start together against a sandbox with a little latency (to widen the window in
which they overlap) and occasional timeouts. Whatever they leave failed or claimed is picked up by
later runs, as the schedule would; the reckoning must show no duplicate and no loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.harness import Reckoning, add_orders, reckon
from drills.stack import Stack

API = "/v3/company"


@dataclass
class RaceResult:
    reckoning: Reckoning
    faults: dict[str, int]  # counted by the sandbox
    retries: int  # counted in the runs' logs


def race(stack: Stack, prefix: str, orders: int, jobs: tuple[str, str]) -> RaceResult:
    injected_before = dict(stack.sandbox.control("GET", "inject")["injected"])
    outputs_before = len(stack.outputs)
    add_orders(stack.engine, orders, prefix=prefix)
    stack.sandbox.control("POST", "settings", {"latency_ms": 20})
    stack.sandbox.control("POST", "inject", {"kind": "timeout", "rate": 0.03, "path_contains": API, "seconds": 3})
    # Each run claims part of the orders, so both push at once instead of one finding nothing to claim.
    processes = [stack.start_run(job, QB_ORDERS_PER_RUN=str(max(1, orders * 2 // 5))) for job in jobs]
    for process in processes:
        stack.finish_run(process)
    stack.sandbox.control("DELETE", "inject")
    stack.sandbox.control("POST", "settings", {"latency_ms": 0})
    for _ in range(6):  # later runs finish what the racers left (retries after timeouts)
        if set(stack.statuses()) <= {"synced"}:
            break
        stack.let_time_pass()
        stack.run()
    return RaceResult(
        reckon(stack.sandbox, stack.engine, f"{prefix}-"),
        stack.injected_since(injected_before),
        stack.run_retries(since=outputs_before),
    )


def run_races(stack: Stack, orders: int) -> dict[str, RaceResult]:
    return {
        "two pushers at once": race(stack, "P", orders, ("push_invoices_job", "push_invoices_job")),
        "push racing the hourly job": race(stack, "H", orders, ("hourly_sync_job", "push_invoices_job")),
    }

"""The fault drill: N orders pushed by real Dagster runs while QuickBooks misbehaves in every way we know.

Throughout: 10% 5xx (500 and 503), 5% timeouts after QuickBooks applied the call, 5% of batches reaching
QuickBooks after the run stopped waiting for them (applied late: a lookup before QuickBooks is done with
them finds nothing), 429 bursts. On top:
two run processes are SIGKILLed while a batch they sent is applied but unanswered, and every token is
revoked once mid-run (a person reconnects, as `qb-pipeline auth connect` would). Time is fast-forwarded
rather than waited for: stale claims (15 minutes) and retry back-off. Afterwards every order must be
synced, with exactly one invoice per order number, totalling what the order totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.harness import Reckoning, add_orders, reckon
from drills.stack import Stack

API = "/v3/company"  # faults on the QuickBooks API only, not on the sandbox's own control routes
BURST = 2  # in a row; time is compressed (0.5 s throttle waits), so a burst fits the retry budget


@dataclass
class FaultDrillResult:
    reckoning: Reckoning
    faults: dict[str, int]
    retries: int
    runs: int
    killed: int
    runs_stopped_by_revocation: int
    log: list[str] = field(default_factory=list)


def run_fault_drill(stack: Stack, orders: int, *, kills: int = 2, prefix: str = "F") -> FaultDrillResult:
    sandbox = stack.sandbox
    injected_before = dict(sandbox.control("GET", "inject")["injected"])
    outputs_before = len(stack.outputs)
    add_orders(stack.engine, orders, prefix=prefix)
    log: list[str] = []
    for kind, rate, extra in (("500", 0.05, {}), ("503", 0.05, {}), ("timeout", 0.05, {"seconds": 3})):
        sandbox.control("POST", "inject", {"kind": kind, "rate": rate, "path_contains": API, "seed": 7, **extra})
    # 4 s late: after the runs' 2 s timeout, within the 5 s the stack gives QuickBooks to finish a request
    late = {"kind": "late", "path_contains": "/batch", "seconds": 4}
    sandbox.control("POST", "inject", {**late, "count": 2})  # the first two batches, whatever the dice say
    sandbox.control("POST", "inject", {**late, "rate": 0.05})

    def burst() -> None:
        sandbox.control("POST", "inject", {"kind": "429", "count": BURST, "path_contains": API})

    runs = killed = revoked_runs = 0
    batches_between_kills = max(1, orders // 30 // (kills + 2))
    for kill in range(kills):
        burst()
        process = stack.start_run()
        runs += 1
        stack.kill_mid_batch(process, after_batches=(kill + 1) * batches_between_kills)
        killed += 1
        log.append(f"run {runs} SIGKILLed mid-batch: {stack.statuses()}")
        stack.let_time_pass()

    sandbox.control("POST", "inject", {"kind": "revoke", "count": 1, "path_contains": "/batch"})
    outcome = stack.run()
    runs += 1
    if not outcome["success"]:
        revoked_runs += 1
        log.append(f"run {runs} stopped: {'; '.join(outcome['errors'])[:200]}")
    stack.reconnect()

    for _ in range(12):  # until nothing is left; each round is "a while later"
        statuses = stack.statuses()
        if set(statuses) <= {"synced"}:
            break
        stack.let_time_pass()
        burst()
        outcome = stack.run()
        runs += 1
        log.append(f"run {runs}: {'ok' if outcome['success'] else outcome['errors']} → {stack.statuses()}")
    faults = stack.injected_since(injected_before)
    sandbox.control("DELETE", "inject")
    return FaultDrillResult(
        reckoning=reckon(sandbox, stack.engine, f"{prefix}-"),
        faults=faults,
        retries=stack.run_retries(since=outputs_before),
        runs=runs,
        killed=killed,
        runs_stopped_by_revocation=revoked_runs,
        log=log,
    )

"""How long Ctrl-C takes to stop `make dev`: N times, start the whole stack, wait for its first automatic
sync to finish (the daemon, code server and a run have all been up), send SIGINT as a terminal would, and
time until the command returns and until every process of the stack is gone. The processes are seen from
outside (psutil: every process under `qb-pipeline dev` just before the SIGINT) and from the stack's record.
Prints the median and the slowest, and writes benchmarks/results/dev_stop.json. Fails only when a process
outlives the command (the prompt would be back with part of the stack still running).

    .venv/bin/python -m benchmarks.dev_stop [--stops 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import dagster as dg
import psutil

from benchmarks.harness import machine, write_result
from benchmarks.order_latency import dev_stack
from qb_pipeline.stack_record import alive_processes, read_record

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def first_sync_done(stack) -> bool:
    """customers and items synced by the first automatic sync, and no run going on."""
    with dg.DagsterInstance.from_config(str(stack.home / "dagster")) as instance:
        synced = all(instance.get_latest_materialization_event(dg.AssetKey(name)) for name in ("customers", "items"))
        return synced and not instance.get_run_records(dg.RunsFilter(statuses=ACTIVE), limit=1)


def one_stop() -> dict:
    with dev_stack("qbp-stop-") as stack:
        deadline = time.monotonic() + 180
        while not first_sync_done(stack) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)  # the run's process has exited; the stack is idle, as a person finds it
        tree = psutil.Process(stack.process.pid).children(recursive=True)
        record = read_record(stack.home / "data")
        recorded = [psutil.Process(p.pid) for p in record.alive()] if record else []
        processes = {p.pid: p for p in [*tree, *recorded] if p.pid != stack.process.pid}
        started = time.monotonic()
        stack.interrupt()
        returned = gone = None
        outlived = []
        while returned is None or gone is None:
            now = time.monotonic() - started
            if returned is None and stack.process.poll() is not None:
                returned = now
                outlived = alive_processes(list(processes.values()))
            if gone is None and not alive_processes(list(processes.values())):
                gone = now
            if now > 120:
                raise SystemExit(f"the stack did not stop within 120 s (returned: {returned}, gone: {gone})")
            time.sleep(0.01)
        if outlived:
            raise SystemExit(
                f"{len(outlived)} processes outlived make dev: "
                + ", ".join(f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive_processes(outlived))
            )
        return {"processes": len(processes), "prompt_seconds": returned, "all_gone_seconds": gone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=5)
    args = parser.parse_args()
    stops = []
    for n in range(args.stops):
        stops.append(one_stop())
        s = stops[-1]
        print(
            f"stop {n + 1}: prompt back after {s['prompt_seconds']:.2f} s, {s['processes']} processes gone after "
            f"{s['all_gone_seconds']:.2f} s",
            flush=True,
        )
    # The figure: Ctrl-C until the prompt is back and nothing of the stack runs (the later of the two).
    times = [max(s["prompt_seconds"], s["all_gone_seconds"]) for s in stops]
    result = {
        "machine": machine(),
        "stops": len(times),
        "seconds": [round(t, 2) for t in times],
        "median_seconds": round(statistics.median(times), 2),
        "max_seconds": round(max(times), 2),
        "processes_per_stack": max(s["processes"] for s in stops),
        "processes_outliving_make": 0,  # any other count fails above
        "goal_seconds": 5,
    }
    print(
        f"Ctrl-C to the prompt with every process gone: median {result['median_seconds']} s, slowest "
        f"{result['max_seconds']} s over {len(times)} stops (goal: under 5 s); none outlived the command"
    )
    write_result("dev_stop", result)


if __name__ == "__main__":
    main()

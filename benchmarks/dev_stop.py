"""How long Ctrl-C takes to stop `make dev`: N times, start the whole stack, wait for the UI, send
SIGINT as a terminal would, and time until every process it started is gone. Prints the median and
the slowest, and writes benchmarks/results/dev_stop.json. Fails only when something outlives a stop.

    .venv/bin/python -m benchmarks.dev_stop [--stops 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from benchmarks.harness import machine, write_result
from benchmarks.order_latency import dev_stack


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def one_stop() -> float:
    with dev_stack("qbp-stop-") as stack:
        time.sleep(3)  # the daemon and the code server are up too
        group = stack.process.pid
        started = time.monotonic()
        stack.interrupt()
        stack.process.wait(120)
        deadline = time.monotonic() + 60
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        seconds = time.monotonic() - started
        if group_alive(group):
            os.killpg(group, signal.SIGKILL)
            raise SystemExit(f"processes outlived the stop after {seconds:.1f} s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=10)
    args = parser.parse_args()
    times = []
    for n in range(args.stops):
        times.append(one_stop())
        print(f"stop {n + 1}: {times[-1]:.2f} s", flush=True)
    result = {
        "machine": machine(),
        "stops": len(times),
        "seconds": [round(t, 2) for t in times],
        "median_seconds": round(statistics.median(times), 2),
        "max_seconds": round(max(times), 2),
        "goal_seconds": 5,
    }
    print(
        f"Ctrl-C to everything stopped: median {result['median_seconds']} s, slowest {result['max_seconds']} s "
        f"over {len(times)} stops (goal: under 5 s)"
    )
    write_result("dev_stop", result)


if __name__ == "__main__":
    main()

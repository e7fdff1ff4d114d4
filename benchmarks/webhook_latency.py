"""A change made in QuickBooks, timed until our database shows it: under `make dev` defaults the sandbox
notifies the webhook receiver, quickbooks_changes_sensor launches a CDC pull. N changes, one at a time;
median and p95 beside the floor (a run's start: the sensor may see a notification at once, or up to
Dagster's 5 s sensor loop later). Writes
benchmarks/results/webhook_latency.json.

    .venv/bin/python -m benchmarks.webhook_latency [--changes 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import sqlalchemy as sa
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from benchmarks.harness import machine, write_result
from benchmarks.order_latency import dev_stack, wait
from qb_pipeline import config
from qb_pipeline.db.models import Customer
from qb_pipeline.db.session import make_engine, session_scope

RUN_START_SECONDS = 3.5  # a trivial run, tick to finish, on this machine (README.md, "Benchmarks": the floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    with dev_stack("qbp-webhooks-") as stack:
        sandbox = stack.sandbox
        c = sandbox.connection
        qb = QuickBooks(
            auth_client=AuthClient(
                c["client_id"], c["client_secret"], c["redirect_uri"], environment=c["discovery_url"]
            ),
            refresh_token=sandbox.control("POST", "tokens/mint")["refresh_token"],
            company_id=c["realm_id"],
            minorversion=75,
        )
        qb.api_url_v3 = c["api_base_url"]
        engine = make_engine(stack.database_url)
        target = qb.query("SELECT * FROM Customer WHERE DisplayName = 'Cool Cars'")["QueryResponse"]["Customer"][0]

        def ours() -> str | None:
            with session_scope(engine) as session:
                return session.scalar(sa.select(Customer.company_name).where(Customer.qb_id == target["Id"]))

        latencies = []
        for n in range(args.changes):
            current = qb.get_single_object("Customer", target["Id"])["Customer"]
            name = f"Cool Cars change {n}"
            qb.update_object(
                "Customer",
                json.dumps(
                    {"Id": target["Id"], "SyncToken": current["SyncToken"], "sparse": True, "CompanyName": name}
                ),
            )
            changed = time.monotonic()
            wait(lambda name=name: ours() == name, 120, name)
            latencies.append(time.monotonic() - changed)
            print(f"change {n}: {latencies[-1]:.2f} s", flush=True)
        latencies.sort()
        interval = config.sensor_interval_seconds()
        result = {
            "machine": machine(),
            "changes": len(latencies),
            "median_seconds": round(statistics.median(latencies), 2),
            "p95_seconds": round(latencies[max(0, int(round(0.95 * len(latencies))) - 1)], 2),
            "max_seconds": round(latencies[-1], 2),
            "sensor_interval_seconds": interval,
            "floor_seconds": RUN_START_SECONDS,
            "goal_p95_seconds": 10,
        }
    print(
        f"QuickBooks change to our row over {result['changes']} changes: median {result['median_seconds']} s, "
        f"p95 {result['p95_seconds']} s (floor about {result['floor_seconds']} s; goal p95 under 10 s)"
    )
    write_result("webhook_latency", result)


if __name__ == "__main__":
    main()

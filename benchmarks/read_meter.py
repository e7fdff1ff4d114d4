"""QuickBooks reads an hourly sync costs, counted by the sandbox (Intuit meters reads: docs/qbo-api.md §15),
beside the goals of issue #29 and the two public connectors' figures (benchmarks/peer_reads.py), on the
same company and the same changes:

1. idle: after the first sync, `--hours` hourly syncs with nothing changed. Goal: at most 1 read an hour,
   24 a day.
2. webhooks (QB_PULL_ON_WEBHOOKS_ONLY=true): the hourly syncs push and read nothing; the daily catch-up
   reads what changed. Goal: at most the catch-up's reads a day.
3. busy: 100 changes an hour made in QuickBooks (50 customers and 25 items edited, 25 invoices added), for
   `--busy-hours` hours. Goal: at most 2 reads an hour.

Each hourly sync is the hourly job's assets and checks materialized in process (real Dagster, real
python-quickbooks over HTTP); an hour is one run (the clock is not waited for, but once: a company of
1,000 records or more is left to age past the pulls' 5-minute overlap before the first sync, as one
built over time would be). Writes benchmarks/results/read_meter.json.

    .venv/bin/python -m benchmarks.read_meter [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from benchmarks.harness import fresh_database, machine, peak_rss_mb, write_result
from benchmarks.peer_reads import FULL, QUICK, Control, Wire, build_company, make_changes, peer_reads
from benchmarks.sandbox_process import Sandbox
from qb_pipeline.db.token_cipher import new_key
from qb_pipeline.definitions import build_definitions
from qb_pipeline.jobs import HOURLY_SYNC_JOB, PULL_TAG
from qb_pipeline.quickbooks.cdc import CDC_CAP
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.schedules import catch_up_assets
from qb_pipeline.settings import Settings
from qb_pipeline.sync.incremental import OVERLAP
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, run_job

GOALS = {"idle_reads_per_hour": 1, "idle_reads_per_day": 24, "busy_reads_per_hour": 2}


def reads(counters: dict) -> int:
    """The metered calls among those the sandbox counted: queries, CDC, reads of a record or a report."""
    return sum(n for kind, n in counters["calls"].items() if kind.startswith(("query", "cdc", "read ")))


class Company:
    """The sandbox's company, our project synced to it, and the sandbox's counters around each run."""

    def __init__(self, sandbox: Sandbox, shape: dict) -> None:
        # The runs below import the Dagster layer, which reads QB_DATA_DIR when the definitions load.
        os.environ["QB_DATA_DIR"] = tempfile.mkdtemp(prefix="qbp-meter-")
        self.control = Control(sandbox.url, sandbox.connection["control_token"])
        self.user = Wire(
            sandbox.url,
            {**sandbox.connection, "refresh_token": self.control("POST", "tokens/mint")["refresh_token"]},
            "a QuickBooks user",
        )
        build_company(self.control, self.user, **shape)
        database = DatabaseResource(url=fresh_database("sqlite"))
        self.resources = {
            "database": database,
            "quickbooks": QuickBooksResource(
                database=database,
                environment="sandbox-local",
                sandbox_connection_file=str(sandbox.connection_file),
                token_key=new_key(),
            ),
        }

    def hour(self, tags: dict | None = None) -> int:
        """One run of the hourly job (its assets and checks), as a schedule tick with `tags` launches it;
        the reads the sandbox counted during it."""
        job = build_definitions(Settings()).resolve_job_def(HOURLY_SYNC_JOB)
        self.control("POST", "counters")
        assert run_job(job, self.resources, tags=tags).success
        return reads(self.control("GET", "counters"))

    def catch_up(self, settings: Settings) -> int:
        """The daily catch-up's run under `settings`: a CDC pull of what the hourly sync does not read."""
        assets = [build_definitions(settings).get_assets_def(name) for name in catch_up_assets(settings)]
        self.control("POST", "counters")
        push_off = {"ops": {"invoices": {"config": {"push_orders": False}}}}
        assert materialize_company(assets, resources=self.resources, run_config=push_off).success
        return reads(self.control("GET", "counters"))


def ours(sandbox: Sandbox, shape: dict, hours: int, busy_hours: int) -> dict:
    company = Company(sandbox, shape)
    if sum(shape.values()) >= CDC_CAP:
        # A pull reads back OVERLAP before its cursor: a company seeded the minute before its first sync
        # would be all "changed" in the next one, past what one CDC answer holds. Let it age once.
        time.sleep(OVERLAP.total_seconds() + 2)
    first = company.hour()
    idle = [company.hour() for _ in range(hours)]
    webhook_hours = [company.hour(tags={PULL_TAG: "webhooks"}) for _ in range(hours)]
    catch_up = company.catch_up(Settings(pull_on_webhooks_only=True))
    busy = []
    for _ in range(busy_hours):
        make_changes(company.user)
        busy.append(company.hour())
    per_day = 24 / hours
    return {
        "first_sync_reads": first,
        "idle_reads_per_hour": idle,
        "idle_reads_per_day": round(sum(idle) * per_day),
        "webhooks_hourly_reads": webhook_hours,
        "webhooks_catch_up_reads": catch_up,
        "webhooks_reads_per_day": round(sum(webhook_hours) * per_day) + catch_up,
        "busy_reads_per_hour": busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a small company: {QUICK}")
    parser.add_argument("--hours", type=int, default=24, help="idle hourly syncs measured (per day: scaled to 24)")
    parser.add_argument("--busy-hours", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="skip the public connectors' replay")
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    sandbox = Sandbox()
    try:
        result = {"company": shape, "ours": ours(sandbox, shape, args.hours, args.busy_hours)}
        if not args.no_peers:
            result["peers"] = peer_reads(sandbox.url, sandbox.connection["control_token"], **shape)
    finally:
        sandbox.stop()
    print_table(result)
    write_result("read_meter", {"machine": machine(), "peak_rss_mb": peak_rss_mb(), "goals": GOALS, **result})


def print_table(result: dict) -> None:
    mine, peers = result["ours"], result.get("peers", {})
    shape = result["company"]
    print(
        f"QuickBooks reads (metered), counted by the sandbox; {shape['customers']:,} customers, {shape['items']:,} items"
    )
    print(f"{'':<34} {'qb_pipeline':>12} {'goal':>8} {'Airbyte':>9} {'Singer':>8}")
    rows = [
        ("idle company, reads per hour", max(mine["idle_reads_per_hour"]), "≤ 1", "idle_reads_per_sync"),
        ("idle company, reads per day", mine["idle_reads_per_day"], "≤ 24", "idle_reads_per_day"),
        ("with webhooks, reads per day", mine["webhooks_reads_per_day"], "≤ 1", None),
        (
            "100 changes an hour, reads per hour",
            max(mine["busy_reads_per_hour"]),
            "≤ 2",
            "reads_per_sync_after_100_changes",
        ),
    ]
    for label, figure, goal, peer_key in rows:
        airbyte = peers.get("airbyte", {}).get(peer_key, "-") if peer_key else "-"
        singer = peers.get("singer", {}).get(peer_key, "-") if peer_key else "-"
        print(f"{label:<34} {figure:>12} {goal:>8} {airbyte!s:>9} {singer!s:>8}")


if __name__ == "__main__":
    main()

"""`make topology`: the production topology run for real, and its figures per company.

Needs a PostgreSQL server where it may create databases: QB_TEST_POSTGRES_URL (e.g.
postgresql://postgres@127.0.0.1:5432/test). Exits non-zero on any duplicate or lost order.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from qb_pipeline_tests.topology.companies import COMPANIES, sandbox_companies
from qb_pipeline_tests.topology.processes import POSTGRES_URL_VARIABLE, Topology, postgres_server_url
from qb_pipeline_tests.topology.scenario import CODE_SETTINGS, ScenarioResult, run_scenario


def report(result: ScenarioResult) -> str:
    lines = [
        f"{'company (realm id)':<22} {'orders':>7} {'synced':>7} {'invoices':>9} {'duplicates':>11} {'lost':>5}"
        f" {'misplaced':>10}"
    ]
    lines += [
        f"{c.realm_id:<22} {c.orders:>7} {c.synced:>7} {c.invoices:>9} {c.duplicates:>11} {c.lost:>5} {c.misplaced:>10}"
        for c in result.counts
    ]
    lines.append(
        f"runs of different companies side by side: {len(result.overlaps_across)} pairs; "
        f"of one company at once: {len(result.overlaps_within)} pairs"
    )
    lines.append(f"killed: {', '.join(result.killed)}")
    lines.append(f"Dagster runs (its instance on PostgreSQL): {result.runs}")
    lines.append(f"{result.seconds:.0f} s; {'0 duplicates, 0 lost' if result.sound else 'NOT SOUND'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make topology", description=__doc__)
    parser.add_argument("--orders", type=int, default=60, help="orders per company (default 60)")
    parser.add_argument("--companies", type=int, default=COMPANIES, help=f"sandbox companies (default {COMPANIES})")
    parser.add_argument(
        "--folder", type=Path, default=None, help="where the processes' logs go (default: a temp folder)"
    )
    options = parser.parse_args(argv)
    server = postgres_server_url()
    if server is None:
        print(f"set {POSTGRES_URL_VARIABLE} to a PostgreSQL server where databases may be created", file=sys.stderr)
        return 2
    folder = options.folder or Path(tempfile.mkdtemp(prefix="qbp-topology-"))
    print(f"starting the topology; logs in {folder}", flush=True)
    with Topology(folder, server, code_settings=CODE_SETTINGS, companies=options.companies) as topology:
        print(f"Dagster UI {topology.ui}: code server, webserver, daemon, sandbox, PostgreSQL", flush=True)
        result = run_scenario(
            topology, sandbox_companies(topology.sandbox), orders=options.orders, say=lambda m: print(m, flush=True)
        )
    print(report(result))
    return 0 if result.sound else 1


if __name__ == "__main__":
    sys.exit(main())

"""`make drill`: try hard to break the promises, and say in numbers whether they held.

    .venv/bin/python -m drills [--orders 2000] [--race-orders 600] [--kills 2]

Runs the fault drill, the races, the bad-input corpus and the secrets scan on SQLite (and on
PostgreSQL too when QB_TEST_POSTGRES_URL is set), prints a summary table, writes
benchmarks/results/drill.json, and exits non-zero on any duplicate, loss, wrong total, bad-input
case handled badly, or secret found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.harness import RESULTS, database_kinds, fresh_database, machine
from benchmarks.sandbox_process import Sandbox
from drills.bad_input import run_bad_input_corpus
from drills.fault_drill import run_fault_drill
from drills.races import run_races
from drills.secrets_scan import database_text, scan
from drills.stack import Stack

COLUMNS = ("drill", "orders", "invoices", "duplicates", "lost", "wrong totals", "faults injected", "retries")


def drill_database(kind: str, args) -> tuple[list[dict], dict]:
    stack = Stack(kind)
    rows: list[dict] = []
    try:
        # QuickBooks' defaults, then a company where QuickBooks itself would let a duplicate through:
        # duplicate DocNumbers allowed and requestid replay off. The invoice push must hold in both.
        for variant, prefix, company in (
            ("QBO defaults", "F", {}),
            (
                "duplicates allowed, no requestid replay",
                "L",
                {"docnumber_duplicates": "allow", "requestid_replay": False},
            ),
        ):
            started = time.monotonic()
            stack.sandbox.control(
                "POST", "settings", {"docnumber_duplicates": "refuse", "requestid_replay": True, **company}
            )
            faults = run_fault_drill(stack, args.orders, kills=args.kills, prefix=prefix)
            r = faults.reckoning
            rows.append(
                {
                    "drill": f"faults + {faults.killed} SIGKILLs + revocation, {variant} [{kind}]",
                    "orders": r.orders,
                    "invoices": r.invoices,
                    "duplicates": r.duplicates,
                    "lost": r.lost,
                    "wrong totals": r.wrong_totals + r.wrong_links,
                    "faults injected": sum(faults.faults.values()),
                    "retries": faults.retries,
                    "detail": {
                        "faults": faults.faults,
                        "runs": faults.runs,
                        "log": faults.log,
                        "company": company,
                        "seconds": round(time.monotonic() - started, 1),
                    },
                }
            )
        stack.sandbox.control("POST", "settings", {"docnumber_duplicates": "refuse", "requestid_replay": True})
        for name, raced in run_races(stack, args.race_orders).items():
            r = raced.reckoning
            rows.append(
                {
                    "drill": f"{name} [{kind}]",
                    "orders": r.orders,
                    "invoices": r.invoices,
                    "duplicates": r.duplicates,
                    "lost": r.lost,
                    "wrong totals": r.wrong_totals + r.wrong_links,
                    "faults injected": sum(raced.faults.values()),
                    "retries": raced.retries,
                    "detail": {"faults": raced.faults},
                }
            )
        texts = {f"run process output {n}": output for n, output in enumerate(stack.outputs, 1)}
        texts["project database"] = database_text(stack.engine)
        texts["the sandbox's own output"] = stack.sandbox.log_file.read_text()
        return rows, {"secrets": stack.secrets, "folders": [stack.home], "texts": texts}
    finally:
        stack.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--race-orders", type=int, default=600)
    parser.add_argument("--kills", type=int, default=2)
    args = parser.parse_args()

    rows, secrets, folders, texts = [], {}, [], {}
    for kind in database_kinds():
        kind_rows, exposure = drill_database(kind, args)
        rows += kind_rows
        secrets.update(exposure["secrets"])
        folders += exposure["folders"]
        texts.update({f"{place} [{kind}]": text for place, text in exposure["texts"].items()})
        for row in kind_rows:
            print(f"  done: {row['drill']}", flush=True)

    sandbox = Sandbox()
    try:
        cases = run_bad_input_corpus(sandbox.url, sandbox.connection_file, fresh_database("sqlite"))
    finally:
        sandbox.stop()
    texts.update({f"bad-input error {c.category}/{c.name}": c.error for c in cases})
    hits = scan(secrets, folders=folders, texts=texts)
    planted = {name: f"a log line quoting {value}" for name, value in secrets.items()}
    if len(scan(secrets, folders=[], texts=planted)) != len(secrets):  # a scan that cannot find is no proof
        print("DRILL FAILED: the secrets scan does not find secrets planted for it")
        return 1

    print()
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    failed_cases = [c for c in cases if not c.passed]
    print(
        f"\nbad input: {len(cases) - len(failed_cases)} of {len(cases)} cases got a clear, specific error with "
        f"nothing lost ({', '.join(sorted({c.category for c in cases}))})"
    )
    for case in failed_cases:
        print(f"  FAILED {case.category} / {case.name}: {case.detail} [{case.error[:160]}]")
    print(
        f"secrets: {len(secrets)} secrets looked for in {len(texts)} texts and every file under "
        f"{len(folders)} drill folders: {len(hits)} found"
    )
    for hit in hits:
        print(f"  FOUND {hit}")

    broken = [r["drill"] for r in rows if r["duplicates"] or r["lost"] or r["wrong totals"]]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "drill.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "args": vars(args),
                "drills": rows,
                "bad_input": [c.__dict__ for c in cases],
                "secrets_found": hits,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    if broken or failed_cases or hits:
        print(
            f"\nDRILL FAILED: {', '.join(broken) or 'no duplicates or losses'}; {len(failed_cases)} bad-input "
            f"cases; {len(hits)} secrets found"
        )
        return 1
    print("\ndrill passed: no duplicate, no loss, every total right, every bad input explained, no secret exposed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make mutation-check`: each at-most-once safeguard taken away in turn; its proof tests must fail.

A proof test (`test_safeguard_<name>_…` in sync/test_safeguards.py) runs with every other safeguard
absent (sync/without_safeguards.py) and passes on its own safeguard alone. Here each runs again with
QB_MUTATE=<name>, which makes that one absent too: a test that still passes proves nothing, and this
exits non-zero.
Prints a table and writes it as JSON to test-artifacts/mutation-check.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

from qb_pipeline.sync.invoices import Safeguards

PROJECT_DIR = Path(__file__).resolve().parents[1]
TESTS = "qb_pipeline_tests/sync/test_safeguards.py"


def run(name: str, mutate: bool) -> tuple[int, list[str], list[str]]:
    env = {**os.environ, "QB_MUTATE": name if mutate else ""}
    env.pop("QB_TEST_POSTGRES_URL", None)  # one dialect is enough to see a duplicate
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", TESTS, "-k", f"safeguard_{name}_", "-q", "-rfEp", "-p", "no:cacheprovider"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    passed = re.findall(r"^PASSED \S+::(\S+)", completed.stdout, re.M)
    failed = re.findall(r"^(?:FAILED|ERROR) \S+::(\S+)", completed.stdout, re.M)
    return completed.returncode, passed, failed


def main() -> int:
    rows, survived = [], []
    for name in [f.name for f in fields(Safeguards)]:
        started = time.monotonic()
        code, passed, caught = run(name, mutate=True)
        survivors = passed
        ok = code != 0 and caught and not survivors
        if not ok:
            survived.append(name)
        rows.append(
            {
                "safeguard": name,
                "caught_by": caught,
                "still_passing": survivors,
                "exit_code": code,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
        print(f"{name:16} {'caught' if ok else 'SURVIVED':9} {', '.join(caught) or '-'}", flush=True)
    artifacts = PROJECT_DIR / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "mutation-check.json").write_text(json.dumps(rows, indent=2))
    if survived:
        print(f"safeguards no test caught: {', '.join(survived)}", file=sys.stderr)
        return 1
    print(f"every safeguard switched off was caught ({len(rows)} of {len(rows)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make drill` at CI size: faults, SIGKILLs, a revocation, races, bad input and the secrets scan."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qb_pipeline_tests.helpers import PROJECT_DIR


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_drill_finds_no_duplicate_no_loss_and_no_secret():
    result = subprocess.run(
        [sys.executable, "-m", "drills", "--orders", "240", "--race-orders", "120"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((PROJECT_DIR / "benchmarks" / "results" / "drill.json").read_text())
    fault_rows = [row for row in report["drills"] if row["drill"].startswith("faults")]
    assert fault_rows and all(
        row["invoices"] == row["orders"] == 240 and row["faults injected"] > 0 for row in fault_rows
    )
    assert {"500", "503", "timeout", "late", "429", "revoke"} <= set(fault_rows[0]["detail"]["faults"])
    # the same drill in a company where QuickBooks itself lets a duplicate through, counted by marker, with
    # batches QuickBooks applied after the run stopped waiting for them
    loose = [row for row in fault_rows if "duplicates allowed, no requestid replay" in row["drill"]]
    assert loose and all(row["detail"]["faults"].get("late", 0) > 0 for row in loose)
    assert all(row["duplicates"] == row["lost"] == 0 for row in report["drills"])
    # every figure is counted, none written in
    assert all(isinstance(row["faults injected"], int) and isinstance(row["retries"], int) for row in report["drills"])
    assert len(report["bad_input"]) >= 30 and report["secrets_found"] == []

"""`make mutation-check` inside the suite: every safeguard switched off is caught by its proof test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qb_pipeline_tests.helpers import PROJECT_DIR


@pytest.mark.slow
def test_every_safeguard_switched_off_makes_its_proof_test_fail():
    completed = subprocess.run(
        [sys.executable, "-m", "qb_pipeline_tests.mutation_check"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    rows = json.loads((PROJECT_DIR / "test-artifacts" / "mutation-check.json").read_text())
    assert {row["safeguard"] for row in rows} == {
        "write_ahead",
        "lookup",
        "numbering_check",
        "strict_link",
        "heartbeat",
        "settle",
    }
    assert all(row["caught_by"] and not row["still_passing"] for row in rows)

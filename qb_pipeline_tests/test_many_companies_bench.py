"""The many-companies benchmark, small (as CI runs it): on the production topology (PostgreSQL), one company's
full pull alone, three together, their hourly cycle and orders over them; only correctness is asserted
(each company's rows against its sandbox dump, each order's one invoice in its own company), never a time."""

from __future__ import annotations

import json

import pytest

from benchmarks.many_companies import main
from qb_pipeline_tests.topology.processes import POSTGRES_URL_VARIABLE, postgres_server_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]


def test_three_companies_pull_cycle_and_take_orders_each_in_its_own_company(tmp_path):
    if postgres_server_url() is None:
        pytest.skip(f"needs PostgreSQL: set {POSTGRES_URL_VARIABLE} (CI does)")
    output = tmp_path / "many_companies.json"
    arguments = ["--companies", "3", "--customers", "40", "--items", "10", "--orders", "9", "--latency-ms", "0"]

    assert main([*arguments, "--output", str(output)]) == 0

    result = json.loads(output.read_text())
    assert result["sound"] and result["rows_missing"] == {}
    assert result["hourly"] == {**result["hourly"], "runs": 3, "not_successful": 0}
    assert {k: result["orders"][k] for k in ("orders", "invoiced", "duplicates", "lost", "misplaced")} == {
        "orders": 9,
        "invoiced": 9,
        "duplicates": 0,
        "lost": 0,
        "misplaced": 0,
    }
    assert result["single_pull_seconds"] > 0 and result["together_seconds"] > 0 and result["peak_rss_mb"] > 0

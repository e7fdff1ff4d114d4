"""The A/R aging benchmark, small (as CI runs it): invoices and payments made through the sandbox's batch
API, pulled and aged on each database; only correctness is asserted (QuickBooks' own totals), never a time."""

from __future__ import annotations

from decimal import Decimal

from benchmarks.ar_aging import age, build_company, fresh_connection
from benchmarks.harness import database_kinds
from qb_pipeline.db.report_tables import AGING_BUCKETS


def test_a_small_company_is_pulled_and_aged_to_quickbooks_totals_on_each_database(sandbox):
    expected = build_company(sandbox, customers=12, invoices=300, payments=240)

    runs = [
        age({"database": kind, "connection_file": fresh_connection(sandbox), "rounds": 1}) for kind in database_kinds()
    ]

    assert [r["totals"] for r in runs] == [expected] * len(runs)
    assert [r["invoices_pulled"] for r in runs] == [300] * len(runs)
    # every bucket has something: invoices are dated over 150 days and due 30 days after
    assert all(Decimal(expected[bucket]) > 0 for bucket in AGING_BUCKETS)
    assert all(r["customers_aged"] == 12 and r["peak_rss_mb"] > 0 for r in runs)

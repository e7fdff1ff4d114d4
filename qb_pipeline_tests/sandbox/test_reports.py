"""The receivables reports QuickBooks serves, computed by the sandbox from its own data and read through
python-quickbooks' get_report: A/R aging per customer to the cent in the right bucket, sales by customer
and month to the cent, each a metered read."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.invoice import Invoice

from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_item
from qb_pipeline_tests.sandbox.receivables import credit_memo, dated_invoice, dated_payment, report_rows

AGING_TITLES = ["", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"]


@pytest.fixture
def receivables(sandbox):
    """Two customers' invoices due at different distances from 2026-11-30, a payment before and one after
    that date, an unapplied credit memo, a voided invoice: (qb, Ada, Bob)."""
    qb = sandbox.qb_client()
    ada, bob, item = make_customer(qb, "Ada Lovelace"), make_customer(qb, "Bob Babbage"), make_item(qb, "Work")
    for number, (amount, due) in enumerate(
        [
            ("100.00", "2026-12-15"),  # not due yet: Current
            ("0.01", "2026-11-30"),  # due on the report date: Current
            ("250.55", "2026-10-31"),  # 30 days past due
            ("75.25", "2026-10-30"),  # 31 days
            ("10.10", "2026-09-01"),  # 90 days
            ("999.99", "2026-08-31"),  # 91 days
        ],
        start=1,
    ):
        dated_invoice(qb, ada, item, amount, "2026-08-01", due, f"A-{number}")
    owed = dated_invoice(qb, bob, item, "40.00", "2026-10-01", "2026-11-01", "B-1")  # 29 days past due
    dated_payment(qb, bob, owed, "15.00", "2026-11-20")
    dated_payment(qb, bob, owed, "5.00", "2026-12-01")  # after the report date: still owed on it
    credit_memo(qb, bob, item, "12.34", "2026-11-25")  # a credit dated 5 days before: 1 - 30, negative
    Invoice.get(dated_invoice(qb, bob, item, "60.00", "2026-10-01", "2026-10-01", "B-2").Id, qb=qb).void(qb=qb)
    return qb, ada, bob


def test_aged_receivables_puts_each_amount_in_its_bucket_to_the_cent(receivables):
    qb, ada, bob = receivables
    report = qb.get_report("AgedReceivables", {"report_date": "2026-11-30"})
    assert [c["ColTitle"] for c in report["Columns"]["Column"]] == AGING_TITLES
    assert report_rows(report) == [
        ["Ada Lovelace", "100.01", "250.55", "75.25", "10.10", "999.99", "1435.90"],
        ["Bob Babbage", "", "12.66", "", "", "", "12.66"],  # 25.00 owed less 12.34 of credit
        ["TOTAL", "100.01", "263.21", "75.25", "10.10", "999.99", "1448.56"],
    ]
    assert [row["ColData"][0]["id"] for row in report["Rows"]["Row"][:2]] == [ada.Id, bob.Id]
    assert report["Header"]["ReportName"] == "AgedReceivables"
    assert report["Header"]["EndPeriod"] == "2026-11-30"
    assert {"Name": "NoReportData", "Value": "false"} in report["Header"]["Option"]


def test_aging_defaults_to_the_companys_today_and_can_age_as_of_today(receivables):
    qb, _ada, _bob = receivables
    today = datetime.now(timezone.utc).astimezone(ZoneInfo("America/Los_Angeles")).date().isoformat()
    assert qb.get_report("AgedReceivables")["Header"]["EndPeriod"] == today
    # Balances as on 2026-11-30, aged as of today: every past-due amount is older than on 11-30.
    aged_now = qb.get_report("AgedReceivables", {"report_date": "2026-11-30", "aging_method": "Current"})
    on_report_date = qb.get_report("AgedReceivables", {"report_date": "2026-11-30"})
    assert report_rows(aged_now)[-1][-1] == report_rows(on_report_date)[-1][-1] == "1448.56"
    assert report_rows(aged_now)[-1][1:-1] != report_rows(on_report_date)[-1][1:-1]


def test_aging_filters_by_customer_and_says_when_there_is_no_data(receivables):
    qb, _ada, bob = receivables
    only_bob = qb.get_report("AgedReceivables", {"report_date": "2026-11-30", "customer": bob.Id})
    assert [row[0] for row in report_rows(only_bob)] == ["Bob Babbage", "TOTAL"]
    assert only_bob["Header"]["Customer"] == bob.Id
    before_any = qb.get_report("AgedReceivables", {"report_date": "2026-01-01"})
    assert report_rows(before_any) == []
    assert {"Name": "NoReportData", "Value": "true"} in before_any["Header"]["Option"]


@pytest.fixture
def sales(sandbox):
    qb = sandbox.qb_client()
    ada, bob, item = make_customer(qb, "Ada Lovelace"), make_customer(qb, "Bob Babbage"), make_item(qb, "Work")
    for number, (customer, amount, day) in enumerate(
        [
            (ada, "100.10", "2026-09-01"),
            (ada, "0.05", "2026-09-30"),
            (ada, "33.33", "2026-11-15"),
            (bob, "250.00", "2026-10-31"),
            (bob, "19.99", "2026-08-31"),  # before the range
            (bob, "5.00", "2026-12-01"),  # after it
        ],
        start=1,
    ):
        dated_invoice(qb, customer, item, amount, day, day, f"S-{number}")
    credit_memo(qb, bob, item, "50.25", "2026-11-02")  # a return lowers November's sales
    voided = dated_invoice(qb, ada, item, "70.00", "2026-10-10", "2026-10-10", "S-V")
    Invoice.get(voided.Id, qb=qb).void(qb=qb)
    deleted = dated_invoice(qb, bob, item, "80.00", "2026-10-11", "2026-10-11", "S-D")
    Invoice.get(deleted.Id, qb=qb).delete(qb=qb)
    return qb


def test_customer_sales_by_month_sums_to_the_cent(sales):
    report = sales.get_report(
        "CustomerSales", {"start_date": "2026-09-01", "end_date": "2026-11-30", "summarize_column_by": "Month"}
    )
    columns = report["Columns"]["Column"]
    assert [c["ColTitle"] for c in columns] == ["", "Sep 2026", "Oct 2026", "Nov 2026", "Total"]
    assert columns[2]["MetaData"][:2] == [
        {"Name": "StartDate", "Value": "2026-10-01"},
        {"Name": "EndDate", "Value": "2026-10-31"},
    ]
    assert report_rows(report) == [
        ["Ada Lovelace", "100.15", "0.00", "33.33", "133.48"],  # the voided invoice counts 0.00
        ["Bob Babbage", "", "250.00", "-50.25", "199.75"],
        ["TOTAL", "100.15", "250.00", "-16.92", "333.23"],
    ]
    assert report["Header"]["SummarizeColumnsBy"] == "Month" and report["Header"]["ReportBasis"] == "Accrual"


def test_customer_sales_in_total_agrees_with_the_months(sales):
    report = sales.get_report("CustomerSales", {"start_date": "2026-09-01", "end_date": "2026-11-30"})
    assert [c["ColTitle"] for c in report["Columns"]["Column"]] == ["", "Total"]
    assert report_rows(report) == [["Ada Lovelace", "133.48"], ["Bob Babbage", "199.75"], ["TOTAL", "333.23"]]


def test_reports_are_metered_reads_and_bad_requests_are_refused(sandbox):
    qb = sandbox.qb_client()
    sandbox.reset_counters()
    qb.get_report("AgedReceivables")
    qb.get_report("CustomerSales")
    assert sandbox.counters()["calls"] == {"read reports 200": 2}
    for name, params in [
        ("ProfitAndLossDetailForMars", {}),
        ("CustomerSales", {"start_date": "2026-13-01"}),
        ("CustomerSales", {"start_date": "2026-11-02", "end_date": "2026-11-01"}),
        ("CustomerSales", {"accounting_method": "Cash"}),
        ("AgedReceivables", {"aging_method": "Tomorrow"}),
    ]:
        with pytest.raises(QuickbooksException):
            qb.get_report(name, params)

"""`ar_aging` and `sales_by_customer_month` materialized with real Dagster from the mirror of the
sandbox's invoices, compared with what QuickBooks answers for its own AgedReceivables and CustomerSales
reports (the sandbox's, read through python-quickbooks), customer by customer, bucket by bucket, to the cent."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice

from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.reports import PREVIEW_ROWS, ar_aging, sales_by_customer_month
from qb_pipeline.db.models import QBInvoice
from qb_pipeline.db.report_tables import AGING_BUCKETS, ArAging, SalesByCustomerMonth
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.definitions import defs
from qb_pipeline.sync.receivables_tables import months_back
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company, metadata_of
from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_item, pay
from qb_pipeline_tests.sandbox.receivables import apply_credit, credit_memo, dated_invoice, dated_payment, report_rows

# What other parts of the project mirror (payments, credit memos), when the definitions hold them.
OTHER_MIRRORS = ("payments", "credit_memos")


def company_today() -> date:
    return datetime.now(timezone.utc).astimezone(ZoneInfo("America/Los_Angeles")).date()


def day(offset: int) -> str:
    return (company_today() + timedelta(days=offset)).isoformat()


def mirrored(resources, *reports) -> dg.ExecuteInProcessResult:
    """The sandbox's records mirrored (customers, items, invoices, and payments and credit memos once the
    project mirrors them), then `reports` materialized from the mirror alone."""
    others = [defs.get_assets_def(name) for name in OTHER_MIRRORS if dg.AssetKey(name) in defs.resolve_all_asset_keys()]
    assert materialize_company([customers, items, *others, invoices], resources=resources).success
    result = materialize_company(list(reports), resources=resources)
    assert result.success
    return result


def ours(database_url: str, table, columns: list[str]) -> list[list[str]]:
    """Our report's rows in QuickBooks' order (by customer name) as text cells, a TOTAL row last."""
    with session_scope(make_engine(database_url)) as session:
        rows = session.scalars(sa.select(table)).all()
        return [[row.customer_name, row.customer_qb_id, *(getattr(row, c) for c in columns)] for row in rows]


def cents(cell: str) -> Decimal:
    return Decimal(cell) if cell else Decimal("0.00")


@pytest.fixture
def receivables(sandbox):
    """Ada's invoices due at every distance from today; Bob's partly paid invoice and one a credit memo
    pays part of; Cy's invoice paid in full, two to void or delete and one dated next week: (qb, names)."""
    qb = sandbox.qb_client()
    ada, bob, cy = (make_customer(qb, name) for name in ("Ada Lovelace", "Bob Babbage", "Cy Young"))
    item = make_item(qb, "Work")
    for number, (amount, due) in enumerate(
        [("100.00", 15), ("0.01", 0), ("250.55", -30), ("75.25", -31), ("10.10", -90), ("999.99", -91)], start=1
    ):
        dated_invoice(qb, ada, item, amount, day(-120), day(due), f"A-{number}")
    owed = dated_invoice(qb, bob, item, "40.00", day(-40), day(-29), "B-1")
    dated_payment(qb, bob, owed, "15.00", day(0))  # 25.00 left, 29 days past due
    credited = dated_invoice(qb, bob, item, "50.00", day(-60), day(-45), "B-2")
    apply_credit(qb, bob, credited, credit_memo(qb, bob, item, "12.34", day(-5)), "12.34")  # 37.66 left
    paid = dated_invoice(qb, cy, item, "20.00", day(-10), day(-5), "C-1")
    dated_payment(qb, cy, paid, "20.00", day(-1))
    dated_invoice(qb, cy, item, "60.00", day(-70), day(-70), "C-2")  # voided after the first mirror
    dated_invoice(qb, cy, item, "80.00", day(-70), day(-70), "C-3")  # deleted after it
    dated_invoice(qb, cy, item, "7.00", day(7), day(37), "C-4")  # not issued yet on today's report
    return qb


def void_and_delete(qb, voided: str, deleted: str) -> None:
    Invoice.filter(DocNumber=voided, qb=qb)[0].void(qb=qb)
    Invoice.filter(DocNumber=deleted, qb=qb)[0].delete(qb=qb)


def test_ar_aging_matches_quickbooks_aged_receivables_to_the_cent(receivables, resources, database_url):
    mirrored(resources, ar_aging)
    void_and_delete(receivables, "C-2", "C-3")
    result = mirrored(resources, ar_aging)

    theirs = report_rows(receivables.get_report("AgedReceivables"))
    ids = [row["ColData"][0]["id"] for row in receivables.get_report("AgedReceivables")["Rows"]["Row"][:-1]]
    mine = ours(database_url, ArAging, [*AGING_BUCKETS, "total"])
    assert [row[0] for row in mine] == [row[0] for row in theirs[:-1]] == ["Ada Lovelace", "Bob Babbage"]
    assert [row[1] for row in mine] == ids
    for our_row, their_row in zip(mine, theirs, strict=False):
        assert our_row[2:] == [cents(cell) for cell in their_row[1:]], our_row[0]
    assert mine[1][2:] == [Decimal(a) for a in ("0.00", "25.00", "37.66", "0.00", "0.00", "62.66")]
    metadata = metadata_of(result, "ar_aging")
    assert [metadata[f"{b}_amount"] for b in [*AGING_BUCKETS, "total"]] == [
        float(cents(cell)) for cell in theirs[-1][1:]
    ]
    assert metadata["as_of"] == day(0)
    assert [c.name for c in metadata["dagster/column_schema"].columns][:4] == [
        "realm_id",
        "customer_qb_id",
        "customer_name",
        "as_of",
    ]
    assert "| TOTAL" in metadata["preview"] and "1,435.90" in metadata["preview"]


def test_ar_aging_follows_a_payment_made_after_the_last_run(receivables, resources, database_url):
    mirrored(resources, ar_aging)
    assert ours(database_url, ArAging, ["total"])[0][-1] == Decimal("1435.90")
    oldest = Invoice.filter(DocNumber="A-6", qb=receivables)[0]
    dated_payment(receivables, Customer.get(oldest.CustomerRef.value, qb=receivables), oldest, "999.99", day(0))

    mirrored(resources, ar_aging)

    amounts = ("100.01", "250.55", "75.25", "10.10", "0.00", "435.91")
    assert ours(database_url, ArAging, [*AGING_BUCKETS, "total"])[0][2:] == [Decimal(a) for a in amounts]
    assert report_rows(receivables.get_report("AgedReceivables"))[0][1:] == [*amounts[:4], "", amounts[5]]


@pytest.fixture
def sales(sandbox):
    """Sales this month, last month and eleven months back, one a year and a month ago and one next week
    (outside the last twelve months), two to void or delete: the python-quickbooks client."""
    qb = sandbox.qb_client()
    ada, bob = make_customer(qb, "Ada Lovelace"), make_customer(qb, "Bob Babbage")
    item = make_item(qb, "Work")
    today = company_today()
    first = months_back(today, 12)
    last_month = (today.replace(day=1) - timedelta(days=1)).isoformat()
    for number, (customer, amount, when) in enumerate(
        [
            (ada, "100.10", today.isoformat()),
            (ada, "0.05", today.replace(day=1).isoformat()),
            (ada, "33.33", last_month),
            (bob, "250.00", first.isoformat()),
            (bob, "19.99", (first - timedelta(days=1)).isoformat()),  # before the range
            (bob, "5.00", day(7)),  # after it
        ],
        start=1,
    ):
        dated_invoice(qb, customer, item, amount, when, when, f"S-{number}")
    dated_invoice(qb, bob, item, "70.00", last_month, last_month, "S-V")  # voided after the first mirror
    dated_invoice(qb, ada, item, "80.00", last_month, last_month, "S-D")  # deleted after it
    return qb


def test_sales_by_customer_month_matches_quickbooks_customer_sales_to_the_cent(sales, resources, database_url):
    mirrored(resources, sales_by_customer_month)
    void_and_delete(sales, "S-V", "S-D")
    result = mirrored(resources, sales_by_customer_month)

    start, end = months_back(company_today(), 12).isoformat(), company_today().isoformat()
    report = sales.get_report("CustomerSales", {"start_date": start, "end_date": end, "summarize_column_by": "Month"})
    month_of_column = [column["MetaData"][0]["Value"][:7] for column in report["Columns"]["Column"][1:-1]]
    theirs = {
        row[0]: {month: cents(cell) for month, cell in zip(month_of_column, row[1:-1], strict=True) if cell}
        for row in report_rows(report)[:-1]
    }
    mine: dict[str, dict[str, Decimal]] = {}
    for name, _qb_id, month, amount in ours(database_url, SalesByCustomerMonth, ["month", "sales"]):
        mine.setdefault(name, {})[month] = amount
    assert mine == theirs
    assert mine["Bob Babbage"] == {
        start[:7]: Decimal("250.00"),
        months_back(company_today(), 2).isoformat()[:7]: Decimal("0.00"),
    }
    assert mine["Ada Lovelace"][end[:7]] == Decimal("100.15")
    metadata = metadata_of(result, "sales_by_customer_month")
    assert metadata["sales_total"] == float(cents(report_rows(report)[-1][-1])) == 383.48
    assert (metadata["start_date"], metadata["end_date"]) == (start, end)


def _mirrors_credits() -> bool:
    return all(dg.AssetKey(name) in defs.resolve_all_asset_keys() for name in OTHER_MIRRORS)


@pytest.mark.skipif(not _mirrors_credits(), reason="needs the payments and credit_memos mirrors (issue #28 item 1)")
def test_unapplied_credits_lower_both_reports_as_quickbooks_does(sandbox, resources, database_url):
    qb = sandbox.qb_client()
    ada, item = make_customer(qb, "Ada Lovelace"), make_item(qb, "Work")
    owed = dated_invoice(qb, ada, item, "40.00", day(-40), day(-29), "U-1")
    credit_memo(qb, ada, item, "12.34", day(-5))  # not applied: -12.34, 5 days old
    pay(qb, ada, owed, "10.00", total="50.00")  # 40.00 of it unapplied: -40.00, dated today

    mirrored(resources, ar_aging, sales_by_customer_month)

    aging = report_rows(qb.get_report("AgedReceivables"))
    assert ours(database_url, ArAging, [*AGING_BUCKETS, "total"])[0][2:] == [cents(c) for c in aging[0][1:]]
    assert aging[0][1:] == ["-40.00", "17.66", "", "", "", "-22.34"]
    start, end = months_back(company_today(), 12).isoformat(), company_today().isoformat()
    sales = qb.get_report("CustomerSales", {"start_date": start, "end_date": end})
    mine = ours(database_url, SalesByCustomerMonth, ["sales"])
    assert sum(row[-1] for row in mine) == cents(report_rows(sales)[0][-1]) == Decimal("27.66")


def test_a_company_owed_nothing_gets_empty_reports(sandbox, resources):
    result = mirrored(resources, ar_aging, sales_by_customer_month)

    aging, sales = metadata_of(result, "ar_aging"), metadata_of(result, "sales_by_customer_month")
    assert (aging["dagster/row_count"], aging["total_amount"], sales["sales_total"]) == (0, 0.0, 0.0)
    assert "| TOTAL" in aging["preview"] and sales["preview"] == "nothing to show"


def test_more_customers_owing_than_the_preview_shows_get_the_largest_in_it(sandbox, resources):
    qb = sandbox.qb_client()
    work = make_item(qb, "Work")
    for n in range(PREVIEW_ROWS + 1):  # 21 customers owing 1.00 … 21.00
        dated_invoice(qb, make_customer(qb, f"Owes {n + 1:02d}"), work, f"{n + 1}.00", day(-1), day(10), f"PV-{n}")
    aging = metadata_of(mirrored(resources, ar_aging), "ar_aging")
    assert aging["customers_owing"] == PREVIEW_ROWS + 1 and aging["total_amount"] == 231.0
    assert "Owes 21" in aging["preview"] and "Owes 01" not in aging["preview"]  # the 20 largest, then TOTAL


def test_a_companys_report_run_leaves_another_companys_rows_alone(sandbox, resources, database_url):
    """Two companies' runs side by side must not rewrite each other's report rows."""
    earlier = datetime(2026, 1, 2, tzinfo=timezone.utc)
    with session_scope(make_engine(database_url)) as session:  # another company, mirrored and aged a while ago
        session.add(QBInvoice(realm_id="999", qb_id="1", customer_qb_id="1", txn_date=day(-3), total_amt=5, balance=5))
        session.add(
            ArAging(
                realm_id="999",
                customer_qb_id="1",
                customer_name="Elsewhere Ltd",
                as_of=date(2026, 1, 2),
                **{bucket: Decimal(0) for bucket in AGING_BUCKETS},
                total=Decimal(5),
                computed_at=earlier,
            )
        )
    mirrored(resources, ar_aging)
    with session_scope(make_engine(database_url)) as session:
        kept = session.execute(sa.select(ArAging.customer_name, ArAging.computed_at).where(ArAging.realm_id == "999"))
        assert [tuple(row) for row in kept] == [("Elsewhere Ltd", earlier)]

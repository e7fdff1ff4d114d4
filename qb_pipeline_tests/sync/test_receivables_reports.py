"""The receivables reports' pandas: the sandbox's own report tests' company (qb_pipeline_tests/sandbox/
test_reports.py) gives the same answers here, credits included; and the credits are read from the
credit memo and payment mirrors when the database has them, on each database."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, QBInvoice
from qb_pipeline.db.receivables import QBCreditMemo, QBPayment
from qb_pipeline.db.report_tables import AGING_BUCKETS, ArAging
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.receivables_reports import INVOICES, ITEMS, ar_aging, sales_by_customer_month
from qb_pipeline.sync.receivables_tables import months_back, refresh_ar_aging, refresh_sales_by_customer_month

REPORT_DATE = date(2026, 11, 30)
NOW = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)


def money(*amounts: str) -> list[Decimal]:
    return [Decimal(a) for a in amounts]


def test_aging_buckets_and_credits_as_quickbooks_ages_them():
    ada_dues = ["2026-12-15", "2026-11-30", "2026-10-31", "2026-10-30", "2026-09-01", "2026-08-31"]
    invoices = pd.DataFrame(
        [
            ("1", "2026-08-01", due, Decimal(a))
            for due, a in zip(ada_dues, money("100", "0.01", "250.55", "75.25", "10.10", "999.99"), strict=True)
        ]
        + [("2", "2026-10-01", "2026-11-01", Decimal("25.00")), ("2", "2026-12-01", "2026-12-31", Decimal("5.00"))],
        columns=INVOICES,
    )
    credits = pd.DataFrame([("2", "2026-11-25", Decimal("12.34")), ("3", "2026-12-01", Decimal("9.99"))], columns=ITEMS)

    table = ar_aging(invoices, credits, REPORT_DATE).set_index("customer_qb_id")

    # The sandbox's answer for the same company (test_aged_receivables_puts_each_amount_in_its_bucket_to_the_cent);
    # what is dated after the report date (Bob's December invoice, Cy's credit) is not on it.
    assert list(table.index) == ["1", "2"]
    assert list(table.loc["1"]) == money("100.01", "250.55", "75.25", "10.10", "999.99", "1435.90")
    assert list(table.loc["2"]) == money("0.00", "12.66", "0.00", "0.00", "0.00", "12.66")
    assert table.columns.tolist() == [*AGING_BUCKETS, "total"]


def test_an_invoice_without_a_due_date_ages_from_its_date_and_cents_never_drift():
    invoices = pd.DataFrame(
        [("1", "2026-10-15", None, Decimal("0.10"))] * 3 + [("1", None, None, Decimal("0.20"))], columns=INVOICES
    )
    table = ar_aging(invoices, pd.DataFrame(columns=ITEMS), REPORT_DATE)
    # 0.1 + 0.1 + 0.1 is 0.30000000000000004 in floats; an undated invoice counts as long past
    assert list(table.iloc[0]) == ["1", *money("0.00", "0.00", "0.30", "0.00", "0.20", "0.50")]


def test_sales_by_month_within_the_range_less_credit_memos():
    invoices = pd.DataFrame(
        [
            ("1", "2026-09-01", "100.10"),
            ("1", "2026-09-30", "0.05"),
            ("1", "2026-10-10", "0.00"),  # voided: a row of 0.00, as QuickBooks shows it
            ("2", "2026-10-31", "250.00"),
            ("2", "2026-08-31", "19.99"),  # before the range
        ],
        columns=ITEMS,
    )
    memos = pd.DataFrame([("2", "2026-11-02", "50.25")], columns=ITEMS)

    table = sales_by_customer_month(invoices, memos, date(2026, 9, 1), date(2026, 11, 30))

    assert table.values.tolist() == [
        ["1", "2026-09", Decimal("100.15")],
        ["1", "2026-10", Decimal("0.00")],
        ["2", "2026-10", Decimal("250.00")],
        ["2", "2026-11", Decimal("-50.25")],
    ]
    assert months_back(date(2026, 11, 30), 12) == date(2025, 12, 1)
    assert months_back(date(2026, 3, 31), 3) == date(2026, 1, 1)


def test_credit_memos_and_unapplied_payments_are_read_from_their_mirrors_when_present(engine):
    """Unapplied credits in the payment and credit memo mirrors (`qb_credit_memos`, `qb_payments`) lower the aging."""
    with session_scope(engine) as session:
        session.add(Customer(qb_id="7", display_name="Ada Lovelace"))
    _owes(engine, "40.00", txn_date="2026-10-01", due_date="2026-11-01")
    assert _totals(engine) == {"7": money("0.00", "40.00", "0.00", "0.00", "0.00", "40.00")}

    with session_scope(engine) as session:
        session.add_all(
            [
                QBCreditMemo(
                    realm_id="r", qb_id="5", customer_qb_id="7", txn_date="2026-11-25", status="open",
                    total_amt=Decimal("12.34"), remaining_credit=Decimal("12.34"),
                ),
                QBCreditMemo(
                    realm_id="r", qb_id="6", customer_qb_id="7", txn_date="2026-11-25", status="deleted",
                    total_amt=Decimal("99.00"), remaining_credit=Decimal("99.00"),
                ),
                QBPayment(
                    realm_id="r", qb_id="8", customer_qb_id="7", txn_date="2026-08-01", status="open",
                    total_amt=Decimal("5.00"), unapplied_amt=Decimal("5.00"),
                ),
            ]
        )  # fmt: skip
    assert _totals(engine) == {"7": money("0.00", "27.66", "0.00", "0.00", "-5.00", "22.66")}


def test_a_customer_who_paid_everything_leaves_the_aging_and_an_empty_one_is_empty(engine):
    _owes(engine, "9.99", txn_date="2026-11-01", due_date="2026-11-30")
    assert _totals(engine) == {"7": money("9.99", "0.00", "0.00", "0.00", "0.00", "9.99")}
    with session_scope(engine) as session:
        session.execute(sa.update(QBInvoice).values(balance=Decimal("0.00"), status="paid"))
    assert _totals(engine) == {}
    assert refresh_sales_by_customer_month(engine, date(2026, 12, 1), REPORT_DATE, NOW).empty


def _owes(engine: sa.Engine, amount: str, **dates: str) -> None:
    """Customer 7 of company r owes `amount` on an open invoice."""
    with session_scope(engine) as session:
        session.add(
            QBInvoice(
                realm_id="r",
                qb_id="1",
                customer_qb_id="7",
                total_amt=Decimal(amount),
                balance=Decimal(amount),
                status="open",
                lines=[],
                **dates,
            )
        )


def _totals(engine: sa.Engine) -> dict[str, list[Decimal]]:
    refresh_ar_aging(engine, REPORT_DATE, NOW)
    with session_scope(engine) as session:
        return {
            row.customer_qb_id: [getattr(row, c) for c in [*AGING_BUCKETS, "total"]]
            for row in session.scalars(sa.select(ArAging))
        }

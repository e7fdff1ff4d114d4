"""The receivables reports, with pandas, as QuickBooks computes its own (docs/qbo-api.md §14): pure
functions of DataFrames read from the mirror (`sync/receivables_tables.py` reads and writes them).

Money is summed in whole cents (int64: exact, and fast on 100,000 rows) and handed back as Decimal.

- `ar_aging`: AgedReceivables aged on the report date. Every invoice dated on or before `as_of` counts
  its open balance, aged from its DueDate (its TxnDate when it has none); credits (a credit memo's
  credit not yet applied, a payment's unapplied amount) count negative, aged from their TxnDate. Days
  past due = as_of − that date: 0 or less is current, then 1–30, 31–60, 61–90, 91 and over. A customer
  has a row when anything of theirs is open, even if it adds up to 0.00.
- `sales_by_customer_month`: CustomerSales summarized by Month, accrual basis. Each invoice's item lines
  on its TxnDate, less each credit memo's, between `start` and `end`; a customer has a row for each
  month with a transaction, even one of 0.00 (a voided invoice).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from qb_pipeline.db.report_tables import AGING_BUCKETS

CENT = Decimal("0.01")
AGING_PERIOD_DAYS = 30
UNDATED_DAYS = 10**6  # a record without a usable date counts as long past (QuickBooks ages it 91 and over)
ITEMS = ["customer_qb_id", "txn_date", "amount"]  # a credit or a sale: who, when, how much (Decimal)
INVOICES = ["customer_qb_id", "txn_date", "due_date", "balance"]


def ar_aging(invoices: pd.DataFrame, credits: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """customer_qb_id, the five buckets and total (Decimal), one row per customer with anything open.

    `invoices`: customer_qb_id, txn_date, due_date, balance (open, positive). `credits`: customer_qb_id,
    txn_date, amount (credit left, positive). Dates as YYYY-MM-DD text or None."""
    owed = pd.DataFrame(
        {
            "customer_qb_id": invoices["customer_qb_id"],
            "txn_date": invoices["txn_date"],
            "aged_from": invoices["due_date"].where(invoices["due_date"].notna(), invoices["txn_date"]),
            "cents": cents(invoices["balance"]),
        }
    )
    credited = pd.DataFrame(
        {
            "customer_qb_id": credits["customer_qb_id"],
            "txn_date": credits["txn_date"],
            "aged_from": credits["txn_date"],
            "cents": -cents(credits["amount"]),
        }
    )
    items = pd.concat([owed, credited], ignore_index=True)
    items = items[(items["cents"] != 0) & (_days_before(items["txn_date"], as_of) >= 0)]
    if items.empty:
        return pd.DataFrame(columns=["customer_qb_id", *AGING_BUCKETS, "total"])
    days = _days_before(items["aged_from"], as_of)
    bucket = np.where(days <= 0, 0, np.minimum((days - 1) // AGING_PERIOD_DAYS + 1, len(AGING_BUCKETS) - 1))
    table = (
        items.assign(bucket=bucket)
        .pivot_table(index="customer_qb_id", columns="bucket", values="cents", aggfunc="sum", fill_value=0)
        .reindex(columns=range(len(AGING_BUCKETS)), fill_value=0)
    )
    table.columns = list(AGING_BUCKETS)
    table["total"] = table.sum(axis=1)
    return _as_money(table.reset_index(), [*AGING_BUCKETS, "total"])


def sales_by_customer_month(invoices: pd.DataFrame, credit_memos: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """customer_qb_id, month (YYYY-MM), sales (Decimal). `invoices` and `credit_memos`: one row per
    transaction, customer_qb_id, txn_date, amount (the sum of its item lines)."""
    sales = pd.concat(
        [
            pd.DataFrame({**{c: invoices[c] for c in ITEMS[:2]}, "cents": cents(invoices["amount"])}),
            pd.DataFrame({**{c: credit_memos[c] for c in ITEMS[:2]}, "cents": -cents(credit_memos["amount"])}),
        ],
        ignore_index=True,
    )
    day = pd.to_datetime(sales["txn_date"], format="%Y-%m-%d", errors="coerce")
    sales = sales[(day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))].assign(month=day.dt.strftime("%Y-%m"))
    if sales.empty:
        return pd.DataFrame(columns=["customer_qb_id", "month", "sales"])
    table = sales.groupby(["customer_qb_id", "month"], as_index=False)["cents"].sum().rename(columns={"cents": "sales"})
    return _as_money(table, ["sales"])


def cents(amounts: pd.Series) -> pd.Series:
    """Decimal (or numeric text) amounts as whole cents, half up; missing counts 0."""
    return amounts.map(_to_cents, na_action="ignore").fillna(0).astype("int64")


def _to_cents(amount) -> int:
    return int((Decimal(str(amount)) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _days_before(dates: pd.Series, as_of: date) -> np.ndarray:
    """Days from each date (YYYY-MM-DD text) to `as_of`; a missing or unreadable date is long past."""
    parsed = pd.to_datetime(dates, format="%Y-%m-%d", errors="coerce")
    return (pd.Timestamp(as_of) - parsed).dt.days.fillna(UNDATED_DAYS).astype("int64").to_numpy()


def _as_money(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        table[column] = [Decimal(int(c)).scaleb(-2).quantize(CENT) for c in table[column]]
    table.columns.name = None
    return table

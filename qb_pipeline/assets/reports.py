"""The receivables reports as assets: `ar_aging` and `sales_by_customer_month`, tables in the project
database built with pandas from the mirror alone (they call QuickBooks for nothing: no metered read),
computed as QuickBooks computes its AgedReceivables and CustomerSales reports (docs/qbo-api.md §14)."""

from decimal import Decimal

import dagster as dg
import pandas as pd

from qb_pipeline.assets.activity import company_of_run
from qb_pipeline.assets.constants import HEALTH_GROUP, OWNERS, companies
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.receivables import credit_memos, payments
from qb_pipeline.db.report_tables import AGING_BUCKETS, ArAging, SalesByCustomerMonth
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.receivables_tables import (
    company_today,
    months_back,
    refresh_ar_aging,
    refresh_sales_by_customer_month,
)

PREVIEW_ROWS = 20
BUCKET_TITLES = dict(
    zip([*AGING_BUCKETS, "total"], ["Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"], strict=True)
)
COLUMN_MEANINGS = {
    "realm_id": "the QuickBooks company",
    "customer_qb_id": "the customer's QuickBooks id",
    "customer_name": "the customer's display name",
    "as_of": "the company's date the report is aged on",
    "current": "not yet past due",
    "days_1_30": "1 to 30 days past due",
    "days_31_60": "31 to 60 days past due",
    "days_61_90": "61 to 90 days past due",
    "days_91_and_over": "91 days or more past due",
    "total": "everything the customer owes, less credits",
    "month": "the month, YYYY-MM",
    "sales": "invoices' item lines less credit memos', by transaction date (accrual)",
    "computed_at": "when this row was computed",
}


class SalesByCustomerMonthConfig(dg.Config):
    months: int = 12  # this month and the months before it


REPORT = dict(
    group_name=HEALTH_GROUP,
    kinds={"pandas", "sql"},
    owners=OWNERS,
    deps=[invoices, payments, credit_memos],
    partitions_def=companies,
)


@dg.asset(**REPORT)
def ar_aging(
    context: dg.AssetExecutionContext, database: DatabaseResource, quickbooks: QuickBooksResource
) -> dg.MaterializeResult:
    """What each customer owes as of the company's today, by days past due (QuickBooks' A/R aging
    summary: Current, 1 - 30, 31 - 60, 61 - 90, 91 and over), from the mirror; credits count negative."""
    now = utcnow()
    as_of = company_today(quickbooks.company_timezone, now)
    table = refresh_ar_aging(database.engine, as_of, now, company_of_run(context))
    totals = {bucket: _sum(table[bucket]) for bucket in [*AGING_BUCKETS, "total"]}
    # Decimal columns are of object dtype, which nlargest refuses: sort instead
    shown = table.sort_values("total", ascending=False).head(PREVIEW_ROWS) if len(table) > PREVIEW_ROWS else table
    preview = shown[["customer_name", *AGING_BUCKETS, "total"]].rename(columns={"customer_name": "customer"})
    preview = pd.concat([preview, pd.DataFrame([{"customer": "TOTAL", **totals}])], ignore_index=True)
    return dg.MaterializeResult(
        metadata={
            **_table_metadata(ArAging, len(table)),
            "as_of": as_of.isoformat(),
            "customers_owing": int((table["total"] > 0).sum()) if len(table) else 0,
            # floats for the UI's plots; the table keeps Decimal
            **{f"{bucket}_amount": float(amount) for bucket, amount in totals.items()},
            "preview": dg.MetadataValue.md(_markdown(preview.rename(columns=BUCKET_TITLES))),
        }
    )


@dg.asset(**REPORT)
def sales_by_customer_month(
    context: dg.AssetExecutionContext,
    config: SalesByCustomerMonthConfig,
    database: DatabaseResource,
    quickbooks: QuickBooksResource,
) -> dg.MaterializeResult:
    """Sales per customer and month over the last months up to the company's today (QuickBooks' sales by
    customer summarized by month, accrual basis), from the mirror."""
    now = utcnow()
    end = company_today(quickbooks.company_timezone, now)
    start = months_back(end, config.months)
    table = refresh_sales_by_customer_month(database.engine, start, end, now, company_of_run(context))
    by_month = table.groupby("month")["sales"].sum() if len(table) else pd.Series(dtype=object)
    this_month = end.strftime("%Y-%m")
    grid = table.pivot_table(index="customer_name", columns="month", values="sales", aggfunc="sum", fill_value=0)
    if len(grid):
        grid = grid.assign(Total=grid.sum(axis=1)).sort_values("Total", ascending=False).head(PREVIEW_ROWS)
    return dg.MaterializeResult(
        metadata={
            **_table_metadata(SalesByCustomerMonth, len(table)),
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "customers": int(table["customer_qb_id"].nunique()) if len(table) else 0,
            "sales_total": float(_sum(table["sales"])),
            "sales_this_month": float(by_month.get(this_month, Decimal(0))),
            "preview": dg.MetadataValue.md(_markdown(grid.reset_index().rename(columns={"customer_name": "customer"}))),
        }
    )


def _table_metadata(table: type, rows: int) -> dict:
    columns = [
        dg.TableColumn(column.name, str(column.type).lower(), description=COLUMN_MEANINGS.get(column.name))
        for column in table.__table__.columns
    ]
    return {
        "dagster/table_name": table.__tablename__,
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/row_count": int(rows),
    }


def _sum(amounts: pd.Series) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def _markdown(frame: pd.DataFrame) -> str:
    """Money shown with two decimals, as QuickBooks shows it (Decimal, never through float)."""
    if not len(frame):
        return "nothing to show"
    shown = frame.map(lambda value: f"{value:,.2f}" if isinstance(value, (Decimal, int)) else value)
    return shown.to_markdown(index=False, disable_numparse=True)

"""The receivables report tables the report assets write (`assets/receivables.py`), one company's rows
replaced as a whole by each materialization: A/R aging per customer and sales per customer and month."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from qb_pipeline.db.models import Base
from qb_pipeline.db.types import MONEY, UTCDateTime

AGING_BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_and_over")


class ArAging(Base):
    """What one customer owes as of `as_of`, by days past due (QuickBooks' AgedReceivables columns:
    Current, 1 - 30, 31 - 60, 61 - 90, 91 and over, Total); credits count negative."""

    __tablename__ = "ar_aging"

    realm_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    customer_qb_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    customer_name: Mapped[str] = mapped_column(sa.String(500))
    as_of: Mapped[date] = mapped_column(sa.Date)
    current: Mapped[Decimal] = mapped_column(MONEY)
    days_1_30: Mapped[Decimal] = mapped_column(MONEY)
    days_31_60: Mapped[Decimal] = mapped_column(MONEY)
    days_61_90: Mapped[Decimal] = mapped_column(MONEY)
    days_91_and_over: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SalesByCustomerMonth(Base):
    """One customer's sales in one month (YYYY-MM): invoices' item lines less credit memos' (QuickBooks'
    CustomerSales summarized by Month, accrual basis)."""

    __tablename__ = "sales_by_customer_month"

    realm_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    customer_qb_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    customer_name: Mapped[str] = mapped_column(sa.String(500))
    sales: Mapped[Decimal] = mapped_column(MONEY)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


def replace_report(session: Session, table: type[Base], realm_id: str, rows: Sequence[dict]) -> None:
    """The company's rows of `table` become `rows` (in the caller's transaction: readers see the old
    report or the new one, never half of each)."""
    session.execute(sa.delete(table).where(table.realm_id == realm_id))
    if rows:
        session.execute(sa.insert(table), list(rows))

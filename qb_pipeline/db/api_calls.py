"""QuickBooks calls per company per day, by kind: reads (metered by Intuit: queries, CDC, reads of one
record, reports) and writes (creates, updates, batches: not metered). Month-to-date reads, and where the
month is heading, for `status`, the assets' metadata, `sync_health` and its budget check."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from qb_pipeline.db.models import Base

KEPT_DAYS = 400  # a year of days and the month before: enough to compare a month with the last


class ApiCallCount(Base):
    """How many calls of one kind ("read" or "write") a company's runs made on one day (UTC)."""

    __tablename__ = "qb_api_calls"

    realm_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    calls: Mapped[int] = mapped_column(sa.Integer, default=0)


def add_calls(session: Session, realm_id: str, day: date, *, reads: int, writes: int) -> None:
    """Adds to the day's counts (rows made as needed; concurrent runs add, never overwrite)."""
    rows = [
        {"realm_id": realm_id, "day": day, "kind": kind, "calls": calls}
        for kind, calls in (("read", reads), ("write", writes))
        if calls
    ]
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ApiCallCount)
    statement = statement.on_conflict_do_update(
        index_elements=["realm_id", "day", "kind"], set_={"calls": ApiCallCount.calls + statement.excluded.calls}
    )
    session.execute(statement, rows)
    session.execute(sa.delete(ApiCallCount).where(ApiCallCount.day < day - timedelta(days=KEPT_DAYS)))


@dataclass(frozen=True)
class ReadMeter:
    """The app's reads this month (UTC, every company's) and where they are heading."""

    month_to_date: int
    projected: int  # at this month's pace so far, by its last day
    writes_month_to_date: int
    budget: int  # QB_MONTHLY_READ_BUDGET
    warn_share: float  # QB_READ_BUDGET_WARN_SHARE

    @property
    def share_used(self) -> float:
        return self.month_to_date / self.budget if self.budget else 0.0

    @property
    def warning(self) -> str | None:
        """A sentence when the month's reads reached the warning share of the budget, or are heading past
        the budget; None while they are well within it."""
        if not self.budget:
            return None
        if self.month_to_date >= self.warn_share * self.budget:
            return (
                f"QuickBooks reads this month: {self.month_to_date:,}, {self.share_used:.0%} of the monthly budget "
                f"of {self.budget:,} (QB_MONTHLY_READ_BUDGET); past it Intuit refuses reads until next month"
            )
        if self.projected > self.budget:
            return (
                f"QuickBooks reads this month are heading for {self.projected:,}, past the monthly budget of "
                f"{self.budget:,} (QB_MONTHLY_READ_BUDGET); {self.month_to_date:,} so far"
            )
        return None

    def as_metadata(self) -> dict[str, int | float]:
        return {
            "quickbooks_reads_month_to_date": int(self.month_to_date),
            "quickbooks_reads_projected_month": int(self.projected),
            "quickbooks_read_budget_share": float(round(self.share_used, 4)),
        }


def read_meter(session: Session, now: datetime, *, budget: int, warn_share: float) -> ReadMeter:
    """This month's counts of every company (Intuit meters reads per app, not per company) and their
    projection: the month's reads so far, at the pace of the days (and part of today) gone by."""
    first = now.date().replace(day=1)
    totals = dict(
        session.execute(
            sa.select(ApiCallCount.kind, sa.func.coalesce(sa.func.sum(ApiCallCount.calls), 0))
            .where(ApiCallCount.day >= first)
            .group_by(ApiCallCount.kind)
        ).all()
    )
    reads = int(totals.get("read", 0))
    days_in_month = calendar.monthrange(now.year, now.month)[1]
    elapsed = (now.day - 1) + (now.hour * 3600 + now.minute * 60 + now.second) / 86400
    projected = round(reads * days_in_month / max(elapsed, 1.0))  # a first day's pace is not a month's
    return ReadMeter(reads, int(projected), int(totals.get("write", 0)), budget, warn_share)


def calls_by_day(session: Session, since: date) -> list[tuple[date, str, int]]:
    """(day, kind, calls) of every company since `since`, for sync_health's table."""
    return [
        (day, kind, int(calls))
        for day, kind, calls in session.execute(
            sa.select(ApiCallCount.day, ApiCallCount.kind, sa.func.sum(ApiCallCount.calls))
            .where(ApiCallCount.day >= since)
            .group_by(ApiCallCount.day, ApiCallCount.kind)
            .order_by(ApiCallCount.day)
        ).all()
    ]

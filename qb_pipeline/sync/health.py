"""Sync health, with pandas: from the activity log, the orders and the invoice and payment mirrors, per day
and per type — runs, success rate, records synced, QuickBooks calls, retries, seconds — the order → invoice
latency per day, and the money that came in (sync/payment_health.py). What the `sync_health` asset shows and
its check judges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.api_calls import calls_by_day
from qb_pipeline.db.models import Order, OrderStatus, QBInvoice, SyncLog
from qb_pipeline.sync.payment_health import Payments, payments_since

DAYS = 30


@dataclass
class Health:
    by_day_and_type: pd.DataFrame  # day, type, runs, success_rate, records, api_calls, retries, seconds
    latency_by_day: pd.DataFrame  # day, orders, median_seconds, p95_seconds
    runs_24h: int
    success_rate_24h: float  # 1.0 when there was no run
    latency_p95_24h: float  # seconds; 0.0 when no order was invoiced
    open_balance: Decimal  # money stays Decimal; the asset turns it into a float for the UI's plot
    calls_by_day: pd.DataFrame  # day, reads, writes: QuickBooks calls of every company (reads are metered)
    payments: Payments  # what came in over the same days, and how long invoices took to be paid


def sync_health(session: Session, now: datetime) -> Health:
    since = now - timedelta(days=DAYS)
    log = _activity_log(session, since)
    orders = _synced_orders(session, since)
    recent = log[log["at"] >= pd.Timestamp(now - timedelta(hours=24))]
    recent_orders = orders[pd.to_datetime(orders["synced"], utc=True) >= pd.Timestamp(now - timedelta(hours=24))]
    return Health(
        by_day_and_type=_by_day_and_type(log),
        latency_by_day=_latency_by_day(orders),
        runs_24h=int(len(recent)),
        success_rate_24h=float(recent["ok"].mean()) if len(recent) else 1.0,
        latency_p95_24h=float(recent_orders["seconds"].quantile(0.95)) if len(recent_orders) else 0.0,
        open_balance=_open_balance(session),
        calls_by_day=_calls_by_day(session, since),
        payments=payments_since(session, since),
    )


def _calls_by_day(session: Session, since: datetime) -> pd.DataFrame:
    counts = pd.DataFrame(calls_by_day(session, since.date()), columns=["day", "kind", "calls"])
    table = counts.pivot_table(index="day", columns="kind", values="calls", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=["read", "write"], fill_value=0).rename(columns={"read": "reads", "write": "writes"})
    return table.reset_index().sort_values("day", ascending=False).astype({"reads": int, "writes": int})


def _activity_log(session: Session, since: datetime) -> pd.DataFrame:
    """The activity log's rows since `since`: at, type, outcome, records, api_calls, retries, seconds, ok, day."""
    log = pd.DataFrame(
        session.execute(
            sa.select(
                SyncLog.logged_at,
                SyncLog.entity,
                SyncLog.outcome,
                SyncLog.processed,
                SyncLog.api_calls,
                SyncLog.retries,
                SyncLog.duration_seconds,
            ).where(SyncLog.logged_at >= since)
        ).all(),
        columns=["at", "type", "outcome", "records", "api_calls", "retries", "seconds"],
    )
    log["at"] = pd.to_datetime(log["at"], utc=True)
    log["ok"] = log["outcome"] != "FAILED"  # PARTIAL: the run worked, some records were refused
    log["day"] = log["at"].dt.strftime("%Y-%m-%d")
    return log


def _by_day_and_type(log: pd.DataFrame) -> pd.DataFrame:
    return (
        log.groupby(["day", "type"])
        .agg(
            runs=("ok", "size"),
            success_rate=("ok", "mean"),
            records=("records", "sum"),
            api_calls=("api_calls", "sum"),
            retries=("retries", "sum"),
            seconds=("seconds", "sum"),
        )
        .reset_index()
        .sort_values(["day", "type"], ascending=[False, True])
    )


def _synced_orders(session: Session, since: datetime) -> pd.DataFrame:
    """Orders invoiced since `since`: created, synced, seconds (order → invoice), day (of the invoice)."""
    orders = pd.DataFrame(
        session.execute(
            sa.select(Order.created_at, Order.synced_at).where(
                Order.status == OrderStatus.SYNCED, Order.synced_at >= since
            )
        ).all(),
        columns=["created", "synced"],
    )
    orders["seconds"] = (
        pd.to_datetime(orders["synced"], utc=True) - pd.to_datetime(orders["created"], utc=True)
    ).dt.total_seconds()
    orders["day"] = pd.to_datetime(orders["synced"], utc=True).dt.strftime("%Y-%m-%d")
    return orders


def _latency_by_day(orders: pd.DataFrame) -> pd.DataFrame:
    return (
        orders.groupby("day")["seconds"]
        .agg(orders="size", median_seconds="median", p95_seconds=lambda s: s.quantile(0.95))
        .reset_index()
        .sort_values("day", ascending=False)
    )


def _open_balance(session: Session) -> Decimal:
    balance = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(QBInvoice.balance), 0)).where(QBInvoice.status.in_(["open", "paid"]))
    )
    return Decimal(str(balance))

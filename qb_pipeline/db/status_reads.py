"""What `qb-pipeline status` and `qb-pipeline log` read from the project database, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import CustomerItemPrice, CustomerPriceLevel, Order, QBToken, SyncLog, WebhookEvent


@dataclass(frozen=True)
class StatusReads:
    token: QBToken | None
    orders_by_status: dict
    customers_with_custom_pricing: int
    last_by_entity: dict[str, SyncLog]  # the newest activity-log row of each kind
    webhooks_received: int
    webhooks_waiting: int
    webhook_last_received_at: datetime | None
    last_quickbooks_failure: tuple[datetime, str] | None  # (when, message) of the newest FAILED QuickBooks row


def read_status(session: Session, local_activity: tuple[str, ...]) -> StatusReads:
    """Everything status shows from the database; `local_activity` names log rows that call no QuickBooks API."""
    # customers with their own prices or a price level, each counted once
    priced = sa.union(
        sa.select(CustomerItemPrice.customer_id).where(CustomerItemPrice.valid_to.is_(None)),
        sa.select(CustomerPriceLevel.customer_id).where(CustomerPriceLevel.valid_to.is_(None)),
    )
    newest = sa.select(sa.func.max(SyncLog.id)).group_by(SyncLog.entity)
    received, waiting, last_event = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(WebhookEvent.processed_at.is_(None)),
            sa.func.max(WebhookEvent.received_at),
        )
    ).one()
    failure = session.execute(
        sa.select(SyncLog.logged_at, SyncLog.message)
        .where(SyncLog.outcome == "FAILED", SyncLog.entity.not_in(local_activity))
        .order_by(SyncLog.id.desc())
        .limit(1)
    ).first()
    return StatusReads(
        token=session.scalars(sa.select(QBToken)).first(),
        orders_by_status=dict(session.execute(sa.select(Order.status, sa.func.count()).group_by(Order.status)).all()),
        customers_with_custom_pricing=session.scalar(sa.select(sa.func.count()).select_from(priced.subquery())) or 0,
        last_by_entity={row.entity: row for row in session.scalars(sa.select(SyncLog).where(SyncLog.id.in_(newest)))},
        webhooks_received=received,
        webhooks_waiting=waiting,
        webhook_last_received_at=last_event,
        last_quickbooks_failure=tuple(failure) if failure else None,
    )


def activity_since(
    session: Session, since: datetime, entity: str | None, failed_only: bool, limit: int
) -> list[SyncLog]:
    """Activity-log rows since `since`, newest first: of one kind (`entity`, any case) and/or not SUCCESS."""
    query = sa.select(SyncLog).where(SyncLog.logged_at >= since)
    if entity:
        query = query.where(SyncLog.entity == entity.upper())
    if failed_only:
        query = query.where(SyncLog.outcome != "SUCCESS")
    return list(session.scalars(query.order_by(SyncLog.logged_at.desc(), SyncLog.id.desc()).limit(limit)))

"""What `qb-pipeline companies list` and `status` show of each company, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.api_calls import ApiCallCount
from qb_pipeline.db.companies import Company, all_companies
from qb_pipeline.db.models import Order, OrderStatus, QBToken, SyncCursor, SyncLog

WAITING = (OrderStatus.PENDING, OrderStatus.PUSHING)
FAILED = (OrderStatus.FAILED, OrderStatus.BLOCKED)


@dataclass(frozen=True)
class CompanyView:
    realm_id: str
    name: str
    environment: str | None
    connected_at: datetime | None
    disconnected_at: datetime | None
    has_token: bool
    refresh_expires_at: datetime | None  # unless used before (about 100 days)
    refresh_hard_end: datetime | None  # five years from consent
    last_sync_at: datetime | None
    reads_this_month: int
    writes_this_month: int
    orders_waiting: int
    orders_failed: int

    @property
    def connected(self) -> bool:
        return self.disconnected_at is None and self.has_token


def company_views(session: Session, today: date, orders_realm: str | None = None) -> list[CompanyView]:
    """Every company known, in the order they were connected. `orders_realm`: the company the orders are
    pushed to while orders do not name theirs (QB_REALM_ID; the first company when it names none known)."""
    companies = all_companies(session)
    tokens = {token.realm_id: token for token in session.scalars(sa.select(QBToken))}
    last_sync = _last_sync_by_realm(session)
    calls = _calls_this_month(session, today)
    orders = _orders_by_realm(session, [company.realm_id for company in companies], orders_realm)
    return [_view(company, tokens.get(company.realm_id), last_sync, calls, orders) for company in companies]


def _view(company: Company, token: QBToken | None, last_sync: dict, calls: dict, orders: dict) -> CompanyView:
    realm = company.realm_id
    waiting, failed = orders.get(realm, (0, 0))
    return CompanyView(
        realm_id=realm,
        name=company.name,
        environment=company.environment,
        connected_at=company.connected_at,
        disconnected_at=company.disconnected_at,
        has_token=token is not None,
        refresh_expires_at=token.refresh_expires_at if token else None,
        refresh_hard_end=token.refresh_hard_expires_at if token else None,
        last_sync_at=last_sync.get(realm),
        reads_this_month=calls.get((realm, "read"), 0),
        writes_this_month=calls.get((realm, "write"), 0),
        orders_waiting=waiting,
        orders_failed=failed,
    )


def _last_sync_by_realm(session: Session) -> dict[str, datetime]:
    """When each company's pull last advanced a cursor; the activity log's newest success when it names the
    company (a column other work adds), whichever is later."""
    newest = dict(
        session.execute(
            sa.select(SyncCursor.realm_id, sa.func.max(SyncCursor.updated_at)).group_by(SyncCursor.realm_id)
        ).all()
    )
    if hasattr(SyncLog, "realm_id"):
        logged = session.execute(
            sa.select(SyncLog.realm_id, sa.func.max(SyncLog.logged_at))
            .where(SyncLog.outcome == "SUCCESS", SyncLog.realm_id.is_not(None))
            .group_by(SyncLog.realm_id)
        ).all()
        for realm, at in logged:
            newest[realm] = max(at, newest[realm]) if newest.get(realm) else at
    return newest


def _calls_this_month(session: Session, today: date) -> dict[tuple[str, str], int]:
    rows = session.execute(
        sa.select(ApiCallCount.realm_id, ApiCallCount.kind, sa.func.sum(ApiCallCount.calls))
        .where(ApiCallCount.day >= today.replace(day=1))
        .group_by(ApiCallCount.realm_id, ApiCallCount.kind)
    ).all()
    return {(realm, kind): int(calls or 0) for realm, kind, calls in rows}


def _orders_by_realm(session: Session, realms: list[str], orders_realm: str | None) -> dict[str, tuple[int, int]]:
    """(waiting, failed) orders per company. Orders name their company once they have a realm_id column;
    until then every order is the one the push serves (`orders_realm`, else the first company)."""
    if not realms:
        return {}
    if hasattr(Order, "realm_id"):
        query = sa.select(Order.realm_id, Order.status, sa.func.count()).group_by(Order.realm_id, Order.status)
    else:
        owner = orders_realm if orders_realm in realms else realms[0]
        query = sa.select(sa.literal(owner), Order.status, sa.func.count()).group_by(Order.status)
    rows = session.execute(query).all()
    counts: dict[str, tuple[int, int]] = {realm: (0, 0) for realm in realms}
    for realm, status, n in rows:
        waiting, failed = counts.get(realm, (0, 0))
        counts[realm] = (waiting + (n if status in WAITING else 0), failed + (n if status in FAILED else 0))
    return counts

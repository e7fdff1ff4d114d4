"""What a person (or a sync) does with orders that did not go through: list them, retry them, and let
an order waiting for a customer or item go again once a sync brings that name in.

Orders' names are written by the order-entry app, so their keys (db/names.py) are computed here as they
are read, and compared with the keys stored beside our customers' and items' names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.names import name_key
from qb_pipeline.db.order_names import names_not_mirrored
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.companies import answered_for_by
from qb_pipeline.sync.entities import NAMED_IN_ORDERS
from qb_pipeline.sync.invoice_draft import EARLIER_UNKNOWN_NAME, UNKNOWN_NAME
from qb_pipeline.sync.wording import plural

RETRYABLE = (OrderStatus.FAILED, OrderStatus.BLOCKED)


@dataclass(frozen=True)
class OrderCounts:
    pending: int = 0
    pushing: int = 0
    synced: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0
    oldest_stuck: str | None = None  # the order number failed or blocked the longest
    oldest_stuck_at: datetime | None = None
    newest_order_at: datetime | None = None

    @property
    def stuck(self) -> int:
        return self.failed + self.blocked


def order_counts(session: Session, realm_id: str | None = None) -> OrderCounts:
    """Every order by status now, the oldest failed or blocked one, and when the newest order came: of company
    `realm_id` (and those naming no company yet), or of every company when None."""
    scope = answered_for_by(Order, realm_id)
    by_status = {
        status.value: count
        for status, count in session.execute(
            sa.select(Order.status, sa.func.count()).where(scope).group_by(Order.status)
        )
    }
    oldest = session.execute(
        sa.select(Order.order_number, Order.updated_at)
        .where(scope, Order.status.in_(RETRYABLE))
        .order_by(Order.updated_at)
        .limit(1)
    ).first()
    newest = session.scalar(sa.select(sa.func.max(Order.created_at)).where(scope))
    return OrderCounts(
        **by_status,
        oldest_stuck=oldest[0] if oldest else None,
        oldest_stuck_at=oldest[1] if oldest else None,
        newest_order_at=newest,
    )


def list_orders(
    session: Session, *, statuses: Sequence[OrderStatus] = (), since: datetime | None = None, limit: int = 200
) -> list[Order]:
    query = sa.select(Order).options(selectinload(Order.lines)).order_by(Order.created_at.desc()).limit(limit)
    if statuses:
        query = query.where(Order.status.in_(list(statuses)))
    if since is not None:
        query = query.where(Order.created_at >= since)
    return list(session.scalars(query))


def going_again(retried: Sequence[str], limit: int | None = None) -> str:
    """What a retry a person asked for says: "1 order goes again: SO-1" (the first `limit` numbers)."""
    shown = list(retried) if limit is None or len(retried) <= limit else [*retried[:limit], "…"]
    return plural(len(retried), "order goes", "orders go") + " again" + (f": {', '.join(shown)}" if shown else "")


def sent_again(retried: Sequence[str]) -> str:
    """The activity-log line of a retry a person asked for."""
    return f"Sent {plural(len(retried), 'failed or blocked order')} again (a person asked)"


def retry_orders(
    session: Session, numbers: Sequence[str] = (), *, all_failed: bool = False, realm_id: str | None = None
) -> tuple[list[str], list[str]]:
    """Failed or blocked orders back to pending (the sensor pushes them within seconds), of company
    `realm_id` only when given. Returns (retried, not retryable: unknown numbers, or orders neither failed
    nor blocked)."""
    query = sa.select(Order).where(Order.status.in_(RETRYABLE), *_of_company(realm_id))
    if not all_failed:
        query = query.where(Order.order_number.in_(list(numbers)))
    found = list(session.scalars(query))
    _back_to_pending(session, [o.id for o in found])
    retried = sorted(o.order_number for o in found)
    return retried, sorted(set(numbers) - set(retried))


def unknown_order_numbers(session: Session, numbers: Sequence[str], realm_id: str | None = None) -> list[str]:
    """Those of `numbers` that no order has (no order of company `realm_id`, when given)."""
    known = set(
        session.scalars(
            sa.select(Order.order_number).where(Order.order_number.in_(list(numbers)), *_of_company(realm_id))
        )
    )
    return sorted(set(numbers) - known)


def _of_company(realm_id: str | None) -> tuple:
    """The condition that keeps company `realm_id`'s orders; none (every company's) when it is None."""
    return () if realm_id is None else (Order.realm_id == realm_id,)


def _resolvable(session: Session, realm_id: str | None, orders: list[Order]) -> list[Order]:
    """Those of one company's `orders` whose every name is known in that company (None: in any)."""
    known = {
        entity.name: queries.known_name_keys(
            session,
            entity.model,
            {name_key(name) for order in orders for _link, name in entity.named_in_orders.mentions(order) if name},
            *(() if realm_id is None else (entity.model.realm_id == realm_id,)),
        )
        for entity in NAMED_IN_ORDERS.values()
    }
    return [
        order
        for order in orders
        if all(
            link is not None or name_key(name or "") in known[entity.name]
            for entity in NAMED_IN_ORDERS.values()
            for link, name in entity.named_in_orders.mentions(order)
        )
    ]


def revive_orders_naming_known_records(session: Session) -> list[str]:
    """Orders failed because a customer or item name was unknown, whose names all resolve now (a sync
    brought them in): back to pending. Other failures wait for a person."""
    waiting = session.scalars(
        sa.select(Order)
        .where(
            Order.status == OrderStatus.FAILED,
            sa.or_(*(Order.status_reason.contains(words) for words in (UNKNOWN_NAME, EARLIER_UNKNOWN_NAME))),
        )
        .options(selectinload(Order.lines))
    ).all()
    by_company: dict[str | None, list[Order]] = {}
    for order in waiting:
        by_company.setdefault(order.realm_id, []).append(order)
    ready = [order for realm_id, orders in by_company.items() for order in _resolvable(session, realm_id, orders)]
    _back_to_pending(session, [o.id for o in ready])
    return sorted(o.order_number for o in ready)


def orders_name_unknown_records(engine: sa.Engine) -> bool:
    """Whether a due order names a customer or item (any entity orders name, sync/entities.py) by a name our
    mirror does not know (yet)."""
    due = queries.claimable_orders()
    with session_scope(engine) as session:
        return any(
            names_not_mirrored(session, entity.model, entity.named_in_orders, due)
            for entity in NAMED_IN_ORDERS.values()
        )


def _back_to_pending(session: Session, order_ids: list[int]) -> None:
    if order_ids:
        session.execute(
            sa.update(Order)
            .where(Order.id.in_(order_ids), Order.status.in_(RETRYABLE))
            # A person's retry vouches for the company's numbering (see sync/unknown_outcomes.py).
            .values(
                status=OrderStatus.PENDING,
                status_reason=None,
                next_attempt_at=None,
                sent_preferences_version=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )

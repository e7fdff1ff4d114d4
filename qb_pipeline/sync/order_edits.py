"""A person corrects or cancels an order that has not gone to QuickBooks, and the activity log says so.

Safe against a run claiming the order at the same moment: the change starts with one conditional UPDATE
that re-checks, in its own WHERE, that the order is still waiting and was never sent. It takes the row's
lock (PostgreSQL) or the database's write lock (SQLite) until the change commits, so a claim either comes
first (and the change is refused: the order is on its way) or waits and then sees the changed order. A
claim's candidate query skips locked rows, and its UPDATE re-checks the status after the wait
(db/queries.py `claim_orders`).

An order an earlier attempt may have sent (its batch went unanswered: `invoice_batch_id` or
`outcome_unknown_at` set) is not changed: the next run re-sends that recorded batch, with the old
contents, before anything else, so an edit would not reach QuickBooks, and a cancelled order would
leave its invoice there unaccounted for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderLine, OrderStatus
from qb_pipeline.db.types import plain_decimal, utcnow

CHANGEABLE = (OrderStatus.PENDING, OrderStatus.FAILED, OrderStatus.BLOCKED)
ACTIVITY_ENTITY = "Orders"  # beside `orders retry` in the activity log (`qb-pipeline log --entity orders`)


class OrderNotChangeable(Exception):
    """Why this order cannot be edited or cancelled now, in words a person can act on."""


@dataclass(frozen=True)
class NewLine:
    item_name: str
    quantity: Decimal
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class OrderChange:
    order_number: str
    changes: tuple[str, ...]  # "customer 'A' → 'B'", …; empty: the order already said that
    was: OrderStatus
    now: OrderStatus

    @property
    def message(self) -> str:
        status = f"; {self.was.value} → {self.now.value}" if self.was != self.now else ""
        return f"Order {self.order_number} edited (a person asked): {'; '.join(self.changes)}{status}"


def edit_order(
    session: Session,
    order_number: str,
    *,
    customer: str | None = None,
    lines: Sequence[NewLine] | None = None,
    memo: str | None = None,
    realm_id: str | None = None,
) -> OrderChange:
    """Change what an unsent order names (customer by name, every line, memo). A failed or blocked order
    goes back to pending, so the sensor sends it within seconds; the change and the old and new values
    are written to the activity log. `realm_id`: the order's company, needed when two hold its number."""
    order = _take(session, order_number, "edited", realm_id)
    was = order.status
    changes: list[str] = []
    if customer is not None and (customer != order.customer_name or order.customer_id is not None):
        changes.append(f"customer {_customer_of(order)} → {customer!r}")
        order.customer_name, order.customer_id = customer, None
    if lines is not None:
        old = _lines_text(
            (line.item_name or f"#{line.item_id}", line.quantity, line.unit_price) for line in order.lines
        )
        new = _lines_text((line.item_name, line.quantity, line.unit_price) for line in lines)
        if old != new:
            changes.append(f"lines {old} → {new}")
            order.lines.clear()
            session.flush()  # the old lines go before the new ones take their numbers
            order.lines.extend(
                OrderLine(line_number=n, item_name=line.item_name, quantity=line.quantity, unit_price=line.unit_price)
                for n, line in enumerate(lines, start=1)
            )
    if memo is not None and memo != (order.memo or ""):
        changes.append(f"memo {order.memo!r} → {memo!r}")
        order.memo = memo or None
    if not changes:
        return OrderChange(order_number, (), was, was)
    if was != OrderStatus.PENDING:
        # As a person's retry does (sync/order_actions.py): the order goes again, vouched for.
        order.status, order.status_reason, order.next_attempt_at = OrderStatus.PENDING, None, None
        order.sent_preferences_version = None
    change = OrderChange(order_number, tuple(changes), was, order.status)
    queries.append_sync_log(session, entity=ACTIVITY_ENTITY, outcome="SUCCESS", processed=1, message=change.message)
    return change


def cancel_order(session: Session, order_number: str, reason: str, *, realm_id: str | None = None) -> str:
    """Cancel an unsent order (of company `realm_id`, needed when two hold its number): never sent after, no
    longer counted as failed. Returns the activity-log line."""
    order = _take(session, order_number, "cancelled", realm_id)
    was = order.status.value + (f" ({order.status_reason})" if order.status_reason else "")
    order.status, order.status_reason, order.next_attempt_at = OrderStatus.CANCELLED, f"cancelled: {reason}", None
    message = f"Order {order_number} cancelled (a person asked): {reason}; it was {was}"
    queries.append_sync_log(session, entity=ACTIVITY_ENTITY, outcome="SUCCESS", processed=1, message=message)
    return message


def _take(session: Session, order_number: str, doing: str, realm_id: str | None) -> Order:
    """The order, locked against a claim until the session commits, if it may still be changed."""
    numbered = Order.order_number == order_number
    if realm_id is not None:
        numbered = sa.and_(numbered, Order.realm_id == realm_id)
    taken = session.execute(
        sa.update(Order)
        .where(
            numbered,
            Order.status.in_(CHANGEABLE),
            Order.invoice_batch_id.is_(None),
            Order.outcome_unknown_at.is_(None),
            Order.qb_invoice_id.is_(None),
        )
        .values(updated_at=utcnow())
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if realm_id is None:  # after the UPDATE: its first statement must hold the order against a claim
        _refuse_ambiguous(session, order_number, doing)
    if taken is None:
        raise OrderNotChangeable(_why_not(session, order_number, doing))
    return session.get(Order, taken, populate_existing=True)


def _refuse_ambiguous(session: Session, order_number: str, doing: str) -> None:
    """Numbers are unique within a company: an order number two companies hold needs its company named."""
    companies = session.scalars(sa.select(Order.realm_id).where(Order.order_number == order_number)).all()
    if len(companies) > 1:
        named = ", ".join(sorted(realm or "none yet" for realm in companies))
        raise OrderNotChangeable(
            f"order {order_number} cannot be {doing} without its company: {len(companies)} companies have an "
            f"order of that number ({named}); name one with --company REALM"
        )


def _why_not(session: Session, order_number: str, doing: str) -> str:
    order = session.scalars(sa.select(Order).where(Order.order_number == order_number)).first()
    if order is None:
        return f"no order {order_number}"
    refused = f"order {order_number} cannot be {doing}"
    if order.status == OrderStatus.SYNCED or order.qb_invoice_id is not None:
        return (
            f"{refused}: it is already invoiced in QuickBooks (invoice {order.qb_invoice_id}); "
            "change or void the invoice in QuickBooks instead"
        )
    if order.status == OrderStatus.PUSHING:
        return (
            f"{refused}: a run is sending it to QuickBooks right now; "
            f"see `qb-pipeline orders show {order_number}` in a minute"
        )
    if order.status == OrderStatus.CANCELLED:
        return f"{refused}: it is cancelled ({order.status_reason})"
    return (
        f"{refused}: an earlier send of it went unanswered, so it may be in QuickBooks already; it is looked "
        f"up there first (`qb-pipeline orders show {order_number}` says when), then it can be changed if it is not"
    )


def _customer_of(order: Order) -> str:
    if order.customer_id is None:
        return repr(order.customer_name)
    return f"{order.customer.display_name!r} (#{order.customer_id})" if order.customer else f"#{order.customer_id}"


def _lines_text(lines) -> str:
    return ", ".join(
        f"{item!r} × {plain_decimal(Decimal(quantity))}"
        + ("" if price is None else f" @ {plain_decimal(Decimal(price))}")
        for item, quantity, price in lines
    )

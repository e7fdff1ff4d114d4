"""Asset checks: what a data engineer wants to know is still true after each sync."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.assets.constants import QUICKBOOKS_POOL
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.core.errors import QuickBooksError
from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus, QBInvoice, QBToken
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.entities import NAME_LISTS
from qb_pipeline.sync.invoice_draft import OrderRejected, draft_invoice
from qb_pipeline.sync.invoices import CUSTOM_NUMBERS_OFF
from qb_pipeline.sync.order_actions import order_counts
from qb_pipeline.sync.wording import plural

UNLINKED_GRACE = timedelta(hours=1)
REFRESH_TOKEN_WARNING = timedelta(days=14)


def _link_check(entity: str, database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        spec = NAME_LISTS[entity]
        stuck = queries.unlinked_older_than(session, spec.model, spec.name_column, UNLINKED_GRACE)
        linked, total = queries.link_coverage(session, spec.model)
    return dg.AssetCheckResult(
        passed=not stuck,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(stuck)} {entity.lower()}s created over an hour ago are not in QuickBooks yet: "
            + ", ".join(repr(n) for n in stuck[:5])
        )
        if stuck
        else f"{linked}/{total} linked",
        metadata={"linked": int(linked), "total": int(total), "unlinked_over_an_hour": len(stuck)},
    )


@dg.asset_check(asset=customers, description="Every local customer older than an hour is linked to QuickBooks.")
def customers_linked(database: DatabaseResource) -> dg.AssetCheckResult:
    return _link_check("Customer", database)


@dg.asset_check(asset=items, description="Every local item older than an hour is linked to QuickBooks.")
def items_linked(database: DatabaseResource) -> dg.AssetCheckResult:
    return _link_check("Item", database)


@dg.asset_check(
    asset=customers,
    pool=QUICKBOOKS_POOL,
    description=(
        "The QuickBooks connection answers, the company keeps the invoice numbers we send (Custom transaction "
        "numbers on), and its refresh token is not within 14 days of expiry (reconnect with "
        "`qb-pipeline auth connect` before it lapses)."
    ),
)
def quickbooks_connection(quickbooks: QuickBooksResource, database: DatabaseResource) -> dg.AssetCheckResult:
    try:
        gateway = quickbooks.gateway()
        gateway.count("CompanyInfo")
        keeps_numbers = gateway.custom_txn_numbers()
    except (QuickBooksError, OSError) as error:
        return dg.AssetCheckResult(passed=False, description=f"QuickBooks is not reachable: {error}")
    if not keeps_numbers:
        return dg.AssetCheckResult(passed=False, description=CUSTOM_NUMBERS_OFF)
    with database.session() as session:
        token = session.get(QBToken, gateway.realm_id)
        expires = token.refresh_expires_at if token else None
    days_left = (expires - utcnow()).total_seconds() / 86400 if expires else None
    passed = days_left is None or days_left > REFRESH_TOKEN_WARNING.days
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description="connected" if passed else f"the refresh token expires in {days_left:.1f} days: reconnect soon",
        metadata={"refresh_token_days_left": float(round(days_left, 1)) if days_left is not None else -1.0},
    )


@dg.asset_check(
    asset=invoices,
    description=("No order has waited longer than QB_PENDING_ALERT_MINUTES (default 15) to become an invoice."),
)
def orders_not_waiting(database: DatabaseResource) -> dg.AssetCheckResult:
    limit = timedelta(minutes=database.pending_alert_minutes)
    with database.session() as session:
        waiting = session.scalars(
            sa.select(Order.order_number)
            .where(Order.status.in_([OrderStatus.PENDING, OrderStatus.PUSHING]), Order.created_at < utcnow() - limit)
            .order_by(Order.created_at)
            .limit(20)
        ).all()
    return dg.AssetCheckResult(
        passed=not waiting,
        description=(
            f"{plural(len(waiting), 'order')} waiting over {limit}: {', '.join(waiting[:5])}"
            if waiting
            else "no order is waiting"
        ),
        metadata={"orders_waiting_too_long": len(waiting)},
    )


@dg.asset_check(
    asset=invoices,
    description=(
        "No order is failed or blocked: each one that is waits for a person (or for a customer or item to reach "
        "QuickBooks). `qb-pipeline orders list --status failed` shows them; `orders retry` sends them again."
    ),
)
def no_failed_orders(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        counts = order_counts(session)
    stuck = (
        f"{plural(counts.failed, 'order')} failed and {counts.blocked} blocked; the oldest, "
        f"{counts.oldest_stuck}, since {counts.oldest_stuck_at:%Y-%m-%d %H:%M} UTC: "
        "see `qb-pipeline orders list --status failed`"
        if counts.stuck
        else "no order is failed or blocked"
    )
    return dg.AssetCheckResult(
        passed=not counts.stuck, description=stuck, metadata={"failed": counts.failed, "blocked": counts.blocked}
    )


@dg.asset_check(
    asset=invoices,
    description=(
        "Each synced order's QuickBooks invoice total equals the total it was invoiced at (newest 2,000 orders)."
    ),
)
def invoice_totals_reconcile(database: DatabaseResource) -> dg.AssetCheckResult:
    mismatches: list[str] = []
    with database.session() as session:
        rows = session.execute(
            sa.select(Order, QBInvoice.total_amt)
            .join(QBInvoice, QBInvoice.qb_id == Order.qb_invoice_id)
            .where(Order.status == OrderStatus.SYNCED, Order.qb_invoice_state.is_(None))
            .order_by(Order.id.desc())
            .limit(2000)
        ).all()
        for order, total in rows:
            # The total it was invoiced at; an order synced before that was recorded is re-priced as of its
            # own time (prices are kept with their history, so this is the price it had).
            expected = order.invoiced_total
            if expected is None:
                try:
                    expected = draft_invoice(session, order).total
                except OrderRejected as rejected:
                    mismatches.append(f"{order.order_number} (cannot re-price: {rejected.reason})")
                    continue
            if total is None or Decimal(total) != expected:
                mismatches.append(f"{order.order_number} (QuickBooks {total}, invoiced at {expected})")
    return dg.AssetCheckResult(
        passed=not mismatches,
        description="; ".join(mismatches[:5])
        if mismatches
        else plural(len(rows), "invoice matches its order", "invoices match their orders"),
        metadata={"checked": len(rows), "mismatches": len(mismatches)},
    )


@dg.asset_check(asset=invoices, description="No two QuickBooks invoices (voided ones included) share a DocNumber.")
def unique_doc_numbers(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        duplicates = session.execute(
            sa.select(QBInvoice.doc_number, sa.func.count())
            .where(QBInvoice.status != "deleted", QBInvoice.doc_number.is_not(None))
            .group_by(QBInvoice.doc_number)
            .having(sa.func.count() > 1)
            .limit(20)
        ).all()
    return dg.AssetCheckResult(
        passed=not duplicates,
        description=", ".join(f"{number} ×{count}" for number, count in duplicates) or "every DocNumber is unique",
        metadata={"duplicated_doc_numbers": len(duplicates)},
    )

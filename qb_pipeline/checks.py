"""Asset checks: what a data engineer wants to know is still true after each sync, per company (partition)."""

from __future__ import annotations

import warnings
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.assets.activity import company_of_run
from qb_pipeline.assets.constants import companies
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import ENTITY_ASSETS, customers
from qb_pipeline.core.errors import QuickBooksError
from qb_pipeline.core.tokens import RENEW_BEFORE, RENEW_COMMAND, nearest_end, renewal_notice
from qb_pipeline.db import queries
from qb_pipeline.db.models import Order, OrderStatus, QBInvoice, QBToken
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.companies import answered_for_by
from qb_pipeline.sync.entities import CUSTOMERS, ITEMS, NAME_LISTS, SyncedEntity
from qb_pipeline.sync.invoice_draft import OrderRejected, draft_invoice
from qb_pipeline.sync.invoices import CUSTOM_NUMBERS_OFF
from qb_pipeline.sync.order_actions import order_counts
from qb_pipeline.sync.wording import plural

# Checks of a company's assets run per company (partitions_def on a check is "preview" in Dagster 1.13):
# said once here, not at every load of the code location.
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec", dg.PreviewWarning)

UNLINKED_GRACE = timedelta(hours=1)
PROBE_WHEN_SILENT_FOR = timedelta(days=1)  # the connection check reads only when QuickBooks has not answered since


def _link_check(entity: SyncedEntity, database: DatabaseResource, realm: str | None) -> dg.AssetCheckResult:
    company = answered_for_by(entity.model, realm)
    with database.session() as session:
        stuck = queries.unlinked_older_than(session, entity.model, entity.name_column, UNLINKED_GRACE, company)
        linked, total = queries.link_coverage(session, entity.model, company)
    return dg.AssetCheckResult(
        passed=not stuck,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(stuck)} {entity.words} created over an hour ago are not in QuickBooks yet: "
            + ", ".join(repr(n) for n in stuck[:5])
        )
        if stuck
        else f"{linked}/{total} linked",
        metadata={"linked": int(linked), "total": int(total), "unlinked_over_an_hour": len(stuck)},
    )


def link_check(entity: SyncedEntity) -> dg.AssetChecksDefinition:
    """`<asset>_linked`: the local rows of an entity we push reach QuickBooks within an hour."""

    @dg.asset_check(
        asset=ENTITY_ASSETS[entity.name],
        name=f"{entity.asset}_linked",
        description=f"Every local {entity.word} older than an hour is linked to QuickBooks.",
        partitions_def=companies,
    )
    def linked(context, database: DatabaseResource) -> dg.AssetCheckResult:
        return _link_check(entity, database, company_of_run(context))

    return linked


LINK_CHECKS = {name: link_check(entity) for name, entity in NAME_LISTS.items()}
customers_linked = LINK_CHECKS[CUSTOMERS.name]
items_linked = LINK_CHECKS[ITEMS.name]


@dg.asset_check(
    asset=customers,
    partitions_def=companies,
    description=(
        "The QuickBooks connection answers, the company keeps the invoice numbers we send (Custom transaction "
        "numbers on, as its preferences said when last read: each invoice push reads them), and its refresh token "
        f"is more than {RENEW_BEFORE.days} days from either of its ends (its hard end, five years after consent; "
        "or 100 days unused): renew it with `" + RENEW_COMMAND + "` before then. Reads QuickBooks only when "
        "nothing else did in the last day (reads are metered)."
    ),
)
def quickbooks_connection(context, quickbooks: QuickBooksResource, database: DatabaseResource) -> dg.AssetCheckResult:
    try:
        # a company's run checks that company; the check run alone (no partition) checks the default one
        gateway = quickbooks.gateway(context.partition_key if context.has_partition_key else "")
        gateway.connection.client()  # refreshes an expired access token: an OAuth call, not a metered read
        with database.session() as session:
            token = session.get(QBToken, gateway.realm_id)
            answered, keeps_numbers = (token.last_success_at, token.keeps_invoice_numbers) if token else (None, None)
        if answered is None or utcnow() - answered > PROBE_WHEN_SILENT_FOR:
            gateway.count("CompanyInfo")
        if keeps_numbers is None:
            keeps_numbers = gateway.custom_txn_numbers()
    except (QuickBooksError, OSError) as error:
        return dg.AssetCheckResult(passed=False, description=f"QuickBooks is not reachable: {error}")
    if not keeps_numbers:
        return dg.AssetCheckResult(passed=False, description=CUSTOM_NUMBERS_OFF)
    with database.session() as session:
        token = session.get(QBToken, gateway.realm_id)
        unused, hard = (token.refresh_expires_at, token.refresh_hard_expires_at) if token else (None, None)
    now = utcnow()
    notice = renewal_notice(nearest_end(unused, hard), now)
    return dg.AssetCheckResult(
        passed=notice is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=notice or "connected",
        metadata={
            "refresh_token_days_left": _days_left(unused, now),
            "refresh_token_hard_end_days_left": _days_left(hard, now),
            "refresh_token_hard_end": hard.isoformat(timespec="seconds") if hard else "unknown",
        },
    )


def _days_left(end, now) -> float:
    return float(round((end - now).total_seconds() / 86400, 1)) if end else -1.0


def orders_not_waiting(context, database: DatabaseResource) -> dg.AssetCheckResult:
    """No order has waited longer than QB_PENDING_ALERT_MINUTES (default 15) to become an invoice."""
    limit = timedelta(minutes=database.pending_alert_minutes)
    with database.session() as session:
        waiting = session.scalars(
            sa.select(Order.order_number)
            .where(
                answered_for_by(Order, company_of_run(context)),
                Order.status.in_([OrderStatus.PENDING, OrderStatus.PUSHING]),
                Order.created_at < utcnow() - limit,
            )
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


def no_failed_orders(context, database: DatabaseResource) -> dg.AssetCheckResult:
    """No order is failed or blocked: each one that is waits for a person (or for a customer or item to reach
    QuickBooks). `qb-pipeline orders list --status failed` shows them; `orders retry` sends them again."""
    with database.session() as session:
        counts = order_counts(session, company_of_run(context))
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


def invoice_totals_reconcile(context, database: DatabaseResource) -> dg.AssetCheckResult:
    """Each synced order's QuickBooks invoice total equals the total it was invoiced at (newest 2,000
    orders)."""
    mismatches: list[str] = []
    with database.session() as session:
        rows = session.execute(
            sa.select(Order, QBInvoice.total_amt)
            .join(QBInvoice, sa.and_(QBInvoice.realm_id == Order.realm_id, QBInvoice.qb_id == Order.qb_invoice_id))
            .where(
                answered_for_by(Order, company_of_run(context)),
                Order.status == OrderStatus.SYNCED,
                Order.qb_invoice_state.is_(None),
            )
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


def unique_doc_numbers(context, database: DatabaseResource) -> dg.AssetCheckResult:
    """No two QuickBooks invoices of a company (voided ones included) share a DocNumber."""
    with database.session() as session:
        duplicates = session.execute(
            sa.select(QBInvoice.doc_number, sa.func.count())
            .where(
                answered_for_by(QBInvoice, company_of_run(context)),
                QBInvoice.status != "deleted",
                QBInvoice.doc_number.is_not(None),
            )
            .group_by(QBInvoice.realm_id, QBInvoice.doc_number)  # numbers are unique within a company only
            .having(sa.func.count() > 1)
            .limit(20)
        ).all()
    return dg.AssetCheckResult(
        passed=not duplicates,
        description=", ".join(f"{number} ×{count}" for number, count in duplicates) or "every DocNumber is unique",
        metadata={"duplicated_doc_numbers": len(duplicates)},
    )


# The invoices asset's checks (each one's docstring is what the UI says of it). They run as one step, not four:
# a push run lasts a second or two, and every step of its own adds its events and its share of the run's CPU.
INVOICE_CHECKS = {
    check.__name__: check
    for check in (orders_not_waiting, no_failed_orders, invoice_totals_reconcile, unique_doc_numbers)
}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=invoices, description=" ".join(check.__doc__.split()), partitions_def=companies)
        for name, check in INVOICE_CHECKS.items()
    ],
    can_subset=True,
    description="The invoices checks: orders not waiting, none failed, totals reconciled, DocNumbers unique.",
)
def invoice_checks(context, database: DatabaseResource):
    # Each check is judged alone, as when each was a step of its own: one that raises is reported failed with
    # its error, the others still report, and the step fails after them.
    selected = {key.name: key for key in context.selected_asset_check_keys}
    errors: list[Exception] = []
    for name, check in INVOICE_CHECKS.items():
        if name not in selected:
            continue
        try:
            found = check(context, database)
        except Exception as error:  # noqa: BLE001 (re-raised below, once every check has reported)
            errors.append(error)
            found = dg.AssetCheckResult(passed=False, description=f"the check could not run: {error}")
        yield found._replace(asset_key=selected[name].asset_key, check_name=name)
    if errors:
        raise errors[0]

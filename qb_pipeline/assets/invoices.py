"""The `invoices` asset: new orders become QuickBooks invoices, and QuickBooks invoices are mirrored."""

import time

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.assets.activity import (
    company_of_run,
    failure_logged,
    read_meter_metadata,
    recent_activity,
    record_quickbooks_run,
    webhook_events_served,
)
from qb_pipeline.assets.constants import OWNERS, QUICKBOOKS_GROUP, SYNC_WHEN_MISSING, companies
from qb_pipeline.assets.name_lists import (
    ENTITY_ASSETS,
    pull_for_an_invoices_run,
    pull_left_to_webhooks,
    pulled_in_run,
)
from qb_pipeline.assets.orders import orders
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.core.errors import QuickBooksSetupError
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.companies import answered_for_by
from qb_pipeline.sync.entities import INVOICES, NAMED_IN_ORDERS
from qb_pipeline.sync.invoice_mirror import mirror_invoices
from qb_pipeline.sync.invoice_outcomes import InvoicePushResult
from qb_pipeline.sync.invoices import STALE_CLAIM_AFTER, push_orders
from qb_pipeline.sync.order_actions import order_counts, orders_name_unknown_records
from qb_pipeline.sync.order_money import money_counts
from qb_pipeline.sync.push import income_account_for_new_rows


class InvoicesConfig(dg.Config):
    push_orders: bool = True  # False: only mirror QuickBooks invoices (what a webhook-triggered run does)


@dg.asset(
    group_name=QUICKBOOKS_GROUP,
    kinds={"quickbooks", "sql"},
    owners=OWNERS,
    deps=[orders, *(ENTITY_ASSETS[name] for name in NAMED_IN_ORDERS), price_levels],
    automation_condition=SYNC_WHEN_MISSING,
    partitions_def=companies,
)
def invoices(
    context: dg.AssetExecutionContext,
    config: InvoicesConfig,
    quickbooks: QuickBooksResource,
    database: DatabaseResource,
) -> dg.MaterializeResult:
    """Pending orders pushed to QuickBooks as invoices (at most one each), and QuickBooks invoices mirrored."""
    started = time.monotonic()
    gateway = quickbooks.gateway(context.partition_key, progress=context.log.info)
    with failure_logged(database, INVOICES.label, context):
        pushed = InvoicePushResult()
        if config.push_orders:
            _pull_names_orders_need(context, quickbooks, gateway, database)
            pushed = _push(context, quickbooks, gateway, database)
        mirrored = mirror_invoices(
            gateway, database.engine, together_with=pulled_in_run(context), read=not pull_left_to_webhooks(context)
        )
    for reason in pushed.reasons:
        context.log.warning(reason)
    seconds = time.monotonic() - started
    realm = company_of_run(context)
    with database.session() as session:
        pending, oldest = session.execute(
            sa.select(sa.func.count(), sa.func.min(Order.created_at)).where(
                answered_for_by(Order, realm), Order.status == OrderStatus.PENDING
            )
        ).one()
        counts = order_counts(session, realm)  # this company's page: its orders (and those naming none yet)
        every_company = order_counts(session)  # the orders table's page: all of it
    entry = dict(
        entity=INVOICES.label,
        outcome="PARTIAL" if pushed.failed or pushed.blocked else "SUCCESS",
        message=f"{pushed.summary()}; {mirrored.summary()}",
        processed=pushed.processed,
        failed=pushed.failed + pushed.blocked,
    )
    record_quickbooks_run(context, database, gateway.stats, entry, seconds)
    metered = read_meter_metadata(context, quickbooks, gateway.stats)
    with database.session() as session:
        recent = recent_activity(session)
    _observe_orders(context, every_company, database)
    return dg.MaterializeResult(
        metadata={
            **pushed.as_metadata(),
            "pending_after_run": int(pending),
            "oldest_pending_age_seconds": float((utcnow() - oldest).total_seconds()) if oldest else 0.0,
            **mirrored.as_metadata(),
            # every order now, not only this run's: a failure stays visible until someone deals with it
            "orders_pending": int(counts.pending),
            "orders_failed": int(counts.failed),
            "orders_blocked": int(counts.blocked),
            "orders_synced": int(counts.synced),
            **gateway.stats.as_metadata(),
            **metered,
            "seconds": float(round(seconds, 3)),
            "webhook_events_served": webhook_events_served(context),
            "recent_activity": dg.MetadataValue.md(recent),
        }
    )


def _pull_names_orders_need(
    context: dg.AssetExecutionContext, quickbooks: QuickBooksResource, gateway, database: DatabaseResource
) -> None:
    """A new order may name a customer or item created in QuickBooks since the last sync: pull what
    changed first."""
    if orders_name_unknown_records(database.engine):
        named = " or ".join(entity.words for entity in NAMED_IN_ORDERS.values())  # "customers or items"
        context.log.info(f"orders name {named} not mirrored yet: pulling what changed first")
        for entity in NAMED_IN_ORDERS.values():
            pull_for_an_invoices_run(context, quickbooks, gateway, database, entity)


def _push(
    context: dg.AssetExecutionContext, quickbooks: QuickBooksResource, gateway, database: DatabaseResource
) -> InvoicePushResult:
    income_account = income_account_for_new_rows(
        gateway, database.engine, NAMED_IN_ORDERS.values(), quickbooks.default_income_account_id
    )
    try:
        return push_orders(
            gateway,
            database.engine,
            context.run.run_id,
            limit=quickbooks.orders_per_run,
            stale_after=STALE_CLAIM_AFTER,
            default_income_account_id=income_account,
            progress=context.log.info,
        )
    except QuickBooksSetupError as error:  # a QuickBooks setting to change: one sentence, no traceback
        raise dg.Failure(description=str(error), allow_retries=False) from None


def _observe_orders(context: dg.AssetExecutionContext, counts, database: DatabaseResource) -> None:
    """The orders table is written by the order-entry app, not by a run: observe it, so its page has numbers:
    orders by status, and the sent ones by where their invoice stands (paid, partly paid, open, voided,
    deleted) with what the open ones still owe."""
    with database.session() as session:
        money = money_counts(session)
    context.log_event(
        dg.AssetObservation(
            asset_key="orders",
            metadata={
                "pending": counts.pending,
                "pushing": counts.pushing,
                "synced": counts.synced,
                "failed": counts.failed,
                "blocked": counts.blocked,
                **money,
                "newest_order_at": dg.MetadataValue.timestamp(counts.newest_order_at)
                if counts.newest_order_at
                else "none",
            },
        )
    )

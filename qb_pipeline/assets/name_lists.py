"""The `customers` and `items` assets: QuickBooks name lists mirrored both ways."""

import time

import dagster as dg

from qb_pipeline.assets.activity import (
    failure_logged,
    record_activity,
    webhook_events_served,
)
from qb_pipeline.assets.constants import OWNERS, QUICKBOOKS_GROUP, QUICKBOOKS_POOL, SYNC_WHEN_MISSING
from qb_pipeline.db import queries
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.entities import NAME_LISTS
from qb_pipeline.sync.order_actions import revive_orders_naming_known_records
from qb_pipeline.sync.pull import PullResult, pull_name_list
from qb_pipeline.sync.push import PushResult, income_account_for_new_items, push_name_list

ASSET_OF = {"Customer": "customers", "Item": "items"}


def name_list_metadata(
    context: dg.AssetExecutionContext,
    pulled: PullResult,
    pushed: PushResult,
    coverage: tuple[int, int],
    calls: dict[str, int],
    throttle_waits: int,
    seconds: float,
    released: list[str],
) -> dict:
    """The numbers a customers or items sync reports, plotted on the asset's page: every event of the asset
    carries all of them, or its plots have holes. `coverage`: (linked, total) now."""
    linked, total = coverage
    return {
        "dagster/row_count": int(total),
        **pulled.as_metadata(),
        **pushed.as_metadata(),
        "linked_by_name": int(pushed.linked + pulled.linked),
        "linked": int(linked),
        "total": int(total),
        **calls,
        "throttle_waits": int(throttle_waits),
        "seconds": float(round(seconds, 3)),
        "orders_released": len(released),
        "webhook_events_served": webhook_events_served(context),
    }


def sync_name_list(
    context: dg.AssetExecutionContext,
    quickbooks: QuickBooksResource,
    database: DatabaseResource,
    entity: str,
    label: str,
) -> dg.MaterializeResult:
    """Pull what changed in QuickBooks, push what changed here, record one activity-log row."""
    started = time.monotonic()
    gateway = quickbooks.gateway(progress=context.log.info)
    with failure_logged(database, label, context.run.run_id):
        pulled = pull_name_list(gateway, database.engine, entity, progress=context.log.info)
        for conflict in pulled.conflicts:
            context.log.warning(conflict)
        income_account = (
            income_account_for_new_items(gateway, database.engine, quickbooks.default_income_account_id)
            if entity == "Item"
            else None
        )
        pushed = push_name_list(gateway, database.engine, entity, default_income_account_id=income_account)
    for error in pushed.errors:
        context.log.warning(error)
    seconds = time.monotonic() - started
    with database.session() as session:
        released = revive_orders_naming_known_records(session)
        coverage = queries.link_coverage(session, NAME_LISTS[entity].model)
        outcome = "PARTIAL" if pushed.failed else "SUCCESS"
        message = f"{pulled.summary(label)}; {pushed.summary()}; linked {pushed.linked + pulled.linked} by name"
    record_activity(
        database,
        entity=label,
        outcome=outcome,
        message=message,
        processed=pulled.pulled + pushed.created + pushed.updated,
        failed=pushed.failed,
        run_id=context.run.run_id,
        duration_seconds=seconds,
        api_calls=gateway.stats.total_calls,
        retries=gateway.stats.retries,
    )
    context.log.info(f"{label.upper()}: {outcome} - {message}")
    if released:
        context.log.info(
            f"{len(released)} orders that named a {entity.lower()} unknown until now go again: "
            + ", ".join(released[:10])
        )
    return dg.MaterializeResult(
        metadata=name_list_metadata(
            context, pulled, pushed, coverage, gateway.stats.as_metadata(), gateway.throttle.waits, seconds, released
        )
    )


def pull_for_an_invoices_run(
    context: dg.AssetExecutionContext, gateway: QuickBooksGateway, database: DatabaseResource, entity: str
) -> None:
    """Pull what changed of one name list inside an invoices run (its orders name records not mirrored yet),
    recorded as an observation of that asset carrying the series of its own materializations. Not a
    materialization: logged after the invoices step read its inputs' versions, that would show `invoices`
    as unsynced with every order synced."""
    started = time.monotonic()
    calls, waits = gateway.stats.snapshot(), gateway.throttle.waits
    pulled = pull_name_list(gateway, database.engine, entity, progress=context.log.info)
    with database.session() as session:
        released = revive_orders_naming_known_records(session)
        coverage = queries.link_coverage(session, NAME_LISTS[entity].model)
    context.log_event(
        dg.AssetObservation(
            asset_key=ASSET_OF[entity],
            description="pulled by the invoices run: its orders named records not mirrored yet",
            metadata=name_list_metadata(
                context,
                pulled,
                PushResult(entity),
                coverage,
                gateway.stats.as_metadata(since=calls),
                gateway.throttle.waits - waits,
                time.monotonic() - started,
                released,
            ),
        )
    )


# customers and items alike; a fresh stack syncs them at once (SYNC_WHEN_MISSING)
NAME_LIST_ASSET = dict(
    group_name=QUICKBOOKS_GROUP,
    kinds={"quickbooks", "sql"},
    owners=OWNERS,
    pool=QUICKBOOKS_POOL,
    automation_condition=SYNC_WHEN_MISSING,
)


@dg.asset(**NAME_LIST_ASSET)
def customers(
    context: dg.AssetExecutionContext, quickbooks: QuickBooksResource, database: DatabaseResource
) -> dg.MaterializeResult:
    """QuickBooks customers mirrored in the project database, and local customers pushed to QuickBooks."""
    return sync_name_list(context, quickbooks, database, "Customer", "Customers")


@dg.asset(**NAME_LIST_ASSET)
def items(
    context: dg.AssetExecutionContext, quickbooks: QuickBooksResource, database: DatabaseResource
) -> dg.MaterializeResult:
    """QuickBooks items (products and services) mirrored, and local items pushed to QuickBooks."""
    return sync_name_list(context, quickbooks, database, "Item", "Items")

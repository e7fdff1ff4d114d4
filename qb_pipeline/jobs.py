"""Jobs: the hourly sync of everything switched on, and the invoice push the sensor launches."""

import dagster as dg

from qb_pipeline import config
from qb_pipeline.assets.activity import record_activity
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sync.order_actions import retry_orders

AUTO_SYNC_ASSETS = {"customers": "customers", "items": "items", "pricing": "price_levels", "orders": "invoices"}
REALM_TAG = "qb_pipeline/realm"  # dagster.yaml limits runs per value of this tag to one


def hourly_selection() -> list[str]:
    """The assets QB_AUTO_SYNC_CUSTOMERS / ITEMS / PRICING / ORDERS leave switched on."""
    return [asset for kind, asset in AUTO_SYNC_ASSETS.items() if config.auto_sync(kind)] + ["sync_health"]


def realm_tags() -> dict[str, str]:
    """One run per company at a time (dagster.yaml), and a hung run is failed after QB_MAX_RUNTIME_SECONDS
    by Dagster's run monitoring (dagster.yaml)."""
    return {REALM_TAG: config.realm_tag(), "dagster/max_runtime": str(config.max_runtime_seconds())}


hourly_sync_job = dg.define_asset_job(
    "hourly_sync_job",
    selection=dg.AssetSelection.assets(*hourly_selection()),
    description="Everything switched on by QB_AUTO_SYNC_*: customers, items, pricing, then pending and due orders.",
    tags=realm_tags(),
)


def _sync_job(name: str, asset: str, what: str):
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(asset),
        tags=realm_tags(),
        description=f"Sync {what} now (`qb-pipeline sync`, or Materialize in the UI).",
    )


sync_customers_job = _sync_job("sync_customers_job", "customers", "customers")
sync_items_job = _sync_job("sync_items_job", "items", "items")
sync_pricing_job = _sync_job("sync_pricing_job", "price_levels", "pricing (the CSV drop folder)")

WEBHOOK_EVENTS_TAG = "qb_pipeline/webhook_events"  # how many change notifications a run serves
WEBHOOK_THROUGH_TAG = "qb_pipeline/webhook_events_through"  # the newest one's id

quickbooks_changes_job = dg.define_asset_job(
    "quickbooks_changes_job",
    selection=dg.AssetSelection.assets("customers", "items", "invoices"),
    description=(
        "Pulls what QuickBooks said changed (webhooks): the assets the notifications concern, each by CDC "
        "since its cursor (launched by quickbooks_changes_sensor)."
    ),
    tags=realm_tags(),
)

push_invoices_job = dg.define_asset_job(
    "push_invoices_job",
    selection=dg.AssetSelection.assets("invoices"),
    description="New orders to QuickBooks invoices (launched by new_orders_sensor).",
    tags=realm_tags(),
)


class RetryOrdersConfig(dg.Config):
    order_numbers: list[str] = []
    all_failed: bool = False


@dg.op(description="Failed or blocked orders back to pending; new_orders_sensor pushes them within seconds.")
def retry_orders_op(context: dg.OpExecutionContext, config: RetryOrdersConfig, database: DatabaseResource) -> None:
    if not config.order_numbers and not config.all_failed:
        raise dg.Failure(description="say which orders: order_numbers: [SO-1, …], or all_failed: true")
    with database.session() as session:
        retried, not_retried = retry_orders(session, config.order_numbers, all_failed=config.all_failed)
    context.log.info(f"{len(retried)} orders go again: {', '.join(retried[:20]) or 'none'}")
    if not_retried:
        context.log.warning(f"not failed or blocked (or no such order): {', '.join(not_retried)}")
    record_activity(
        database,
        entity="Orders",
        outcome="SUCCESS",
        processed=len(retried),
        message=f"Sent {len(retried)} failed or blocked orders again (a person asked)",
        run_id=context.run.run_id,
    )


@dg.job(
    description=(
        "Send failed or blocked orders again: run config `order_numbers` (a list) or "
        "`all_failed: true`. The same as `qb-pipeline orders retry`."
    )
)
def retry_orders_job():
    retry_orders_op()

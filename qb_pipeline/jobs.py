"""Jobs: the hourly sync of everything switched on, and the invoice push the sensor launches."""

import dagster as dg

from qb_pipeline import config

AUTO_SYNC_ASSETS = {"customers": "customers", "items": "items", "pricing": "price_levels", "orders": "invoices"}
REALM_TAG = "qb_pipeline/realm"  # dagster.yaml limits runs per value of this tag to one


def hourly_selection() -> list[str]:
    """The assets QB_AUTO_SYNC_CUSTOMERS / ITEMS / PRICING / ORDERS leave switched on."""
    return [asset for kind, asset in AUTO_SYNC_ASSETS.items() if config.auto_sync(kind)]


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

push_invoices_job = dg.define_asset_job(
    "push_invoices_job",
    selection=dg.AssetSelection.assets("invoices"),
    description="New orders to QuickBooks invoices (launched by new_orders_sensor).",
    tags=realm_tags(),
)

"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from qb_pipeline.assets.health import sync_health, sync_health_24h
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.orders import orders
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.checks import (
    customers_linked,
    invoice_totals_reconcile,
    items_linked,
    no_failed_orders,
    orders_not_waiting,
    quickbooks_connection,
    unique_doc_numbers,
)
from qb_pipeline.jobs import (
    hourly_sync_job,
    push_invoices_job,
    quickbooks_changes_job,
    retry_orders_job,
    sync_customers_job,
    sync_items_job,
    sync_pricing_job,
)
from qb_pipeline.resources import database_resource, quickbooks_resource
from qb_pipeline.schedules import hourly_sync
from qb_pipeline.sensors import (
    new_orders_sensor,
    quickbooks_automation_sensor,
    quickbooks_changes_sensor,
)

database = database_resource()
defs = dg.Definitions(
    assets=[orders, customers, items, price_levels, invoices, sync_health],
    asset_checks=[
        customers_linked,
        items_linked,
        quickbooks_connection,
        orders_not_waiting,
        no_failed_orders,
        invoice_totals_reconcile,
        unique_doc_numbers,
        sync_health_24h,
    ],
    jobs=[
        hourly_sync_job,
        push_invoices_job,
        quickbooks_changes_job,
        retry_orders_job,
        sync_customers_job,
        sync_items_job,
        sync_pricing_job,
    ],
    schedules=[hourly_sync],
    sensors=[new_orders_sensor, quickbooks_changes_sensor, quickbooks_automation_sensor],
    resources={"database": database, "quickbooks": quickbooks_resource(database)},
    # One process per run: a new order's run starts in about a second instead of spawning step processes.
    executor=dg.in_process_executor,
)

"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from qb_pipeline import config
from qb_pipeline.assets.freshness import with_sync_freshness
from qb_pipeline.assets.health import quickbooks_read_budget, sync_health, sync_health_24h
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import ENTITY_ASSETS
from qb_pipeline.assets.orders import orders
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.assets.receivables import RECEIVABLES_ASSETS
from qb_pipeline.assets.reports import ar_aging, sales_by_customer_month
from qb_pipeline.checks import (
    LINK_CHECKS,
    invoice_checks,
    quickbooks_connection,
)
from qb_pipeline.jobs import build_jobs
from qb_pipeline.resources import database_resource, quickbooks_resource
from qb_pipeline.schedules import build_daily_catch_up, build_hourly_sync
from qb_pipeline.sensors import build_sensors
from qb_pipeline.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything the code location holds, as `settings` configure it (read once, when it loads)."""
    database = database_resource(settings)
    return dg.Definitions(
        assets=with_sync_freshness(
            [orders, *ENTITY_ASSETS.values(), price_levels, invoices, *RECEIVABLES_ASSETS, sync_health],
            settings.sync_frequency_hours,
        )
        + [ar_aging, sales_by_customer_month],  # the mirror's reports: no QuickBooks call, no sync freshness
        asset_checks=[
            *LINK_CHECKS.values(),
            quickbooks_connection,
            invoice_checks,
            sync_health_24h,
            quickbooks_read_budget,
        ],
        jobs=build_jobs(settings),
        schedules=[build_hourly_sync(settings), build_daily_catch_up(settings)],
        sensors=build_sensors(settings),
        resources={"database": database, "quickbooks": quickbooks_resource(settings, database)},
        # One process per run: a new order's run starts in about a second instead of spawning step processes.
        executor=dg.in_process_executor,
    )


defs = build_definitions(config.settings())  # a bad setting stops the code location here, in one line

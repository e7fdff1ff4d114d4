"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.orders import orders
from qb_pipeline.checks import customers_linked, items_linked, quickbooks_connection
from qb_pipeline.resources import database_resource, quickbooks_resource

defs = dg.Definitions(
    assets=[orders, customers, items],
    asset_checks=[customers_linked, items_linked, quickbooks_connection],
    resources={"database": database_resource(), "quickbooks": quickbooks_resource()},
)

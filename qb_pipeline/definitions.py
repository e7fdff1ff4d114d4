"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.assets.orders import orders
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.checks import (
    customers_linked,
    invoice_totals_reconcile,
    items_linked,
    orders_not_waiting,
    quickbooks_connection,
    unique_doc_numbers,
)
from qb_pipeline.resources import database_resource, quickbooks_resource

defs = dg.Definitions(
    assets=[orders, customers, items, price_levels, invoices],
    asset_checks=[customers_linked, items_linked, quickbooks_connection, orders_not_waiting,
                  invoice_totals_reconcile, unique_doc_numbers],
    resources={"database": database_resource(), "quickbooks": quickbooks_resource()},
)

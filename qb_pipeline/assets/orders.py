"""`orders`: written by the order-entry application, not by Dagster (an external asset)."""

import dagster as dg

from qb_pipeline.assets.constants import ORDER_ENTRY_GROUP

orders = dg.AssetSpec(
    "orders",
    group_name=ORDER_ENTRY_GROUP,
    kinds={"sql"},
    description="Orders and order lines written by the order-entry application (tables orders, order_lines).",
)

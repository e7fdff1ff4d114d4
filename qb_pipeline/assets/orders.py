"""`orders`: written by the order-entry application, not by Dagster (an external asset)."""

import dagster as dg

orders = dg.AssetSpec(
    "orders",
    group_name="order_entry",
    kinds={"sql"},
    description="Orders and order lines written by the order-entry application (tables orders, order_lines).",
)

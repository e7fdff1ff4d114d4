"""qb_pipeline: keeps an order-entry database and a QuickBooks Online company in sync."""

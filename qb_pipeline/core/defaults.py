"""The default of every setting, written once.

`Settings` (settings.py) takes them for what the environment leaves unset; the Dagster resources'
fields and the keyword defaults of the functions they configure (gateway, push, throttle, drop
folder) take them from here too. It imports nothing, so any layer may use it; the README lists each
default beside its variable (qb_pipeline_tests/test_settings.py holds all of them to it).
"""

# QuickBooks' own limits that some defaults stand on
QBO_BATCH_LIMIT = 30  # records in one batch call
# QuickBooks ends a request that has run for 120 s (one we gave up on may hold its slot until then);
# counted from when we sent it, so a few seconds more for its way there.
QBO_REQUEST_LIMIT_SECONDS = 125.0

# Where things are (QB_DATA_DIR, DAGSTER_HOME under `make dev`, the ports of `make dev`)
DATA_DIR = ".data"
DAGSTER_HOME = ".dagster_home"  # what `make dev` uses when DAGSTER_HOME is unset
SANDBOX_PORT = 8765
WEBHOOK_PORT = 8767
DAGSTER_URL = "http://127.0.0.1:3000"  # where `qb-pipeline sync` launches runs; `make dev` serves the UI there

# The QuickBooks company and how it is called
ENVIRONMENT = "sandbox-local"  # the bundled sandbox
REDIRECT_URI = "http://127.0.0.1:8766/callback"  # `qb-pipeline auth connect` listens here
TIMEOUT_SECONDS = 30.0
RETRIES = 3
BATCH_SIZE = QBO_BATCH_LIMIT
THROTTLE_WAIT_SECONDS = 60.0  # after a 429 without Retry-After: Intuit's advice
REQUEST_LIMIT_SECONDS = QBO_REQUEST_LIMIT_SECONDS

# What runs when, and what is kept
SYNC_FREQUENCY_HOURS = 1
AUTO_SYNC = True  # each of QB_AUTO_SYNC_CUSTOMERS / ITEMS / PRICING / ORDERS
SENSOR_INTERVAL_SECONDS = 2
LOG_RETENTION_DAYS = 30
PENDING_ALERT_MINUTES = 15.0
ORDERS_PER_RUN = 5000
MONTHLY_READ_BUDGET = 500_000  # Intuit's Builder tier: metered reads a month (docs/qbo-api.md §15)
READ_BUDGET_WARN_SHARE = 0.8  # sync_health's check fails at this share of the budget
SETTLE_SECONDS = 2.0  # QB_PRICING_SETTLE_SECONDS: a dropped pricing file unchanged this long is taken
DEMO_ORDERS_PER_MINUTE = 0.0  # off
MAX_RUNTIME_SECONDS = 3600

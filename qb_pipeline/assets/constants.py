"""What the asset modules share: groups, owners, the companies partitions, the first-sync condition."""

import dagster as dg

QUICKBOOKS_GROUP = "quickbooks"
HEALTH_GROUP = "health"
ORDER_ENTRY_GROUP = "order_entry"
OWNERS = ["team:data-engineering"]
# Companies are partitions: each QuickBooks company (realm id) connected is one partition of every asset
# holding its data. A run of them carries its partition (tag dagster/partition), which dagster.yaml limits
# to one run at a time per value: one company's runs never overlap, other companies' run beside them. companies_sensor adds one for each company holding a token; none is ever deleted (their
# history stays in the UI).
companies = dg.DynamicPartitionsDefinition(name="companies")

# Never materialized, nothing running for it and its last try did not fail: sync it now. A fresh stack's
# first automatic sync (quickbooks_automation_sensor) materializes every asset the hourly sync would, in one
# run, so no page reads "never materialized" once the data is there. (on_missing() does not fire on its
# first evaluation, which is exactly a fresh stack's case.)
SYNC_WHEN_MISSING = (
    dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.in_progress()
    & ~dg.AutomationCondition.execution_failed()
)

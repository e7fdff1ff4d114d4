"""Names the asset modules share: groups, owners and the QuickBooks concurrency pool."""

QUICKBOOKS_GROUP = "quickbooks"
HEALTH_GROUP = "health"
ORDER_ENTRY_GROUP = "order_entry"
OWNERS = ["team:data-engineering"]
# Every asset (and check) that calls QuickBooks is in this pool; dagster.yaml lets one run that holds it
# be in progress at a time, so a materialization launched from the UI waits for a running push instead
# of competing with it for the company's API limits.
QUICKBOOKS_POOL = "quickbooks"

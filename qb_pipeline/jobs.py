"""Jobs: the hourly sync of everything switched on, the invoice push the sensor launches, one sync per type,
the webhook pull and the retry of failed orders. Built from the settings when the definitions load."""

import dagster as dg

from qb_pipeline.assets.activity import record_activity
from qb_pipeline.assets.constants import companies
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.settings import Settings
from qb_pipeline.sync.entities import CREDIT_MEMOS, CUSTOMERS, INVOICES, ITEMS, PAYMENTS, SYNCED
from qb_pipeline.sync.order_actions import going_again, retry_orders, sent_again, unknown_order_numbers

# QB_AUTO_SYNC_<kind> → the asset it switches on in the hourly sync
AUTO_SYNC_ASSETS = {
    "customers": CUSTOMERS.asset,
    "items": ITEMS.asset,
    "pricing": "price_levels",
    "orders": INVOICES.asset,
}
REALM_TAG = "qb_pipeline/realm"  # dagster.yaml limits runs per value of this tag to one
PULL_TAG = "qb_pipeline/pull"  # "webhooks": the run pushes, and leaves reading QuickBooks to webhooks
WEBHOOK_EVENTS_TAG = "qb_pipeline/webhook_events"  # how many change notifications a run serves
WEBHOOK_THROUGH_TAG = "qb_pipeline/webhook_events_through"  # the newest one's id
RECEIVABLES_REPORTS = ("ar_aging", "sales_by_customer_month")  # assets/reports.py
HOURLY_SYNC_JOB = "hourly_sync_job"
PUSH_INVOICES_JOB = "push_invoices_job"
QUICKBOOKS_CHANGES_JOB = "quickbooks_changes_job"


def hourly_selection(settings: Settings) -> list[str]:
    """The assets QB_AUTO_SYNC_CUSTOMERS / ITEMS / PRICING / ORDERS leave switched on. Payments and credit
    memos go with the orders' invoices: they take their part of the run's one CDC call, no read of their own;
    the receivables reports follow them, computed from the mirror (no read at all)."""
    selected = [asset for kind, asset in AUTO_SYNC_ASSETS.items() if settings.auto_sync(kind)]
    if settings.auto_sync("orders"):
        selected += [PAYMENTS.asset, CREDIT_MEMOS.asset, *RECEIVABLES_REPORTS]
    return selected + ["sync_health"]


def run_limit_tags(settings: Settings) -> dict[str, str]:
    """A hung run is failed after QB_MAX_RUNTIME_SECONDS by Dagster's run monitoring (dagster.yaml). No
    company tag here: a run is its company's by its partition (dagster/partition, one run at a time per
    value in dagster.yaml) and, when the schedules or sensors request it, by company_run's realm tag."""
    return {"dagster/max_runtime": str(settings.max_runtime_seconds)}


def company_tags(realm_id: str) -> dict[str, str]:
    """The tags of a run of company `realm_id`: its lane (dagster.yaml runs one per value at a time)."""
    return {REALM_TAG: realm_id}


def partitioned(job: dg.JobDefinition) -> bool:
    """Whether `job` runs per company (its assets are partitioned by `companies`)."""
    return job.partitions_def is not None


def add_company(instance: dg.DagsterInstance, realm_id: str) -> None:
    """Company `realm_id`'s partition in `instance` (companies_sensor adds them in a deployment)."""
    if not instance.has_dynamic_partition(companies.name, realm_id):
        instance.add_dynamic_partitions(companies.name, [realm_id])


def execute_for_company(
    job: dg.JobDefinition, instance: dg.DagsterInstance, realm_id: str, **kwargs
) -> dg.ExecuteInProcessResult:
    """`job` run here, in process, for company `realm_id` (its partition, added if new, and its tags)."""
    if not partitioned(job):
        return job.execute_in_process(instance=instance, **kwargs)
    add_company(instance, realm_id)
    tags = {**company_tags(realm_id), **(kwargs.pop("tags", None) or {})}
    return job.execute_in_process(instance=instance, partition_key=realm_id, tags=tags, **kwargs)


def build_jobs(settings: Settings) -> list:
    """The QuickBooks jobs as `settings` configure them (retry_orders_job needs no settings)."""
    tags = run_limit_tags(settings)

    def sync_job(name: str, asset: str, what: str):
        return dg.define_asset_job(
            name,
            selection=dg.AssetSelection.assets(asset),
            tags=tags,
            description=f"Sync {what} now (`qb-pipeline sync`, or Materialize in the UI).",
        )

    return [
        dg.define_asset_job(
            HOURLY_SYNC_JOB,
            selection=dg.AssetSelection.assets(*hourly_selection(settings)),
            description="Everything switched on by QB_AUTO_SYNC_*: customers, items, pricing, then pending and "
            "due orders.",
            tags=tags,
        ),
        dg.define_asset_job(
            PUSH_INVOICES_JOB,
            selection=dg.AssetSelection.assets(INVOICES.asset),
            description="New orders to QuickBooks invoices (launched by new_orders_sensor).",
            tags=tags,
        ),
        dg.define_asset_job(
            QUICKBOOKS_CHANGES_JOB,
            selection=dg.AssetSelection.assets(*(entity.asset for entity in SYNCED.values())),
            description=(
                "Pulls what QuickBooks said changed (webhooks): the assets the notifications concern, each by "
                "CDC since its cursor (launched by quickbooks_changes_sensor)."
            ),
            tags=tags,
        ),
        # every mirrored entity but invoices (pushed, and mirrored, by push_invoices_job)
        *(
            sync_job(entity.sync_job, entity.asset, entity.words)
            for entity in SYNCED.values()
            if entity is not INVOICES
        ),
        sync_job("sync_pricing_job", "price_levels", "pricing (the CSV drop folder)"),
        retry_orders_job,
    ]


class RetryOrdersConfig(dg.Config):
    order_numbers: list[str] = []
    all_failed: bool = False


@dg.op(description="Failed or blocked orders back to pending; new_orders_sensor pushes them within seconds.")
def retry_orders_op(context: dg.OpExecutionContext, config: RetryOrdersConfig, database: DatabaseResource) -> None:
    if not config.order_numbers and not config.all_failed:
        raise dg.Failure(description="say which orders: order_numbers: [SO-1, …], or all_failed: true")
    with database.session() as session:
        unknown = unknown_order_numbers(session, config.order_numbers)
        if unknown:  # a mistyped number: nothing is sent again, nothing is logged
            raise dg.Failure(description=f"no such order: {', '.join(unknown)} (nothing was sent again)")
        retried, not_retried = retry_orders(session, config.order_numbers, all_failed=config.all_failed)
    context.log.info(going_again(retried, limit=20))
    if not_retried:
        context.log.warning(f"not failed or blocked: {', '.join(not_retried)}")
    if retried:
        record_activity(
            database,
            entity="Orders",
            outcome="SUCCESS",
            processed=len(retried),
            message=sent_again(retried),
            run_id=context.run.run_id,
        )


@dg.job(
    description=(
        "Send failed or blocked orders again: run config `order_numbers` (a list) or "
        "`all_failed: true`. The same as `qb-pipeline orders retry`."
    )
)
def retry_orders_job():
    retry_orders_op()

"""`sync_health`: how the sync has been doing, per day and per type, charted in the UI."""

import dagster as dg

from qb_pipeline.assets.activity import recent_activity
from qb_pipeline.assets.constants import HEALTH_GROUP, OWNERS
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import ENTITY_ASSETS
from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.assets.receivables import payments
from qb_pipeline.db.types import utcnow
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.health import sync_health as measure

SUCCESS_RATE_FLOOR = 0.95
LATENCY_P95_CEILING_SECONDS = 60.0


@dg.asset(
    group_name=HEALTH_GROUP,
    kinds={"pandas", "sql"},
    owners=OWNERS,
    deps=[*ENTITY_ASSETS.values(), price_levels, invoices, payments],
)  # after them in the hourly job
def sync_health(
    context: dg.AssetExecutionContext, database: DatabaseResource, quickbooks: QuickBooksResource
) -> dg.MaterializeResult:
    """Runs, success rate, records, QuickBooks calls, retries and seconds per day and type; order latency; payments; reads."""
    with database.session() as session:
        health = measure(session, utcnow())
        activity = recent_activity(session)
    meter = quickbooks.read_meter()
    if meter.warning:
        context.log.warning(meter.warning)
    return dg.MaterializeResult(
        metadata={
            **meter.as_metadata(),
            "quickbooks_writes_month_to_date": int(meter.writes_month_to_date),
            "quickbooks_calls_by_day": dg.MetadataValue.md(_markdown(health.calls_by_day)),
            "runs_24h": health.runs_24h,
            "success_rate_24h": float(round(health.success_rate_24h, 4)),
            "order_latency_p95_24h_seconds": float(round(health.latency_p95_24h, 1)),
            "open_balance": float(round(health.open_balance, 2)),
            "by_day_and_type": dg.MetadataValue.md(_markdown(health.by_day_and_type)),
            "order_latency_by_day": dg.MetadataValue.md(_markdown(health.latency_by_day)),
            "payments_30d": health.payments.count,
            "received_30d": float(round(health.payments.received, 2)),
            "median_days_to_pay_30d": float(health.payments.median_days_to_pay),
            "payments_by_day": dg.MetadataValue.md(_markdown(health.payments.by_day)),
            "recent_activity": dg.MetadataValue.md(activity),
        }
    )


@dg.asset_check(
    asset=sync_health,
    description=(
        "QuickBooks reads this month (Intuit meters them: past the plan's monthly allowance reads are refused "
        "until next month) stay under QB_READ_BUDGET_WARN_SHARE (80%) of QB_MONTHLY_READ_BUDGET (500,000), "
        "and are not heading past the budget by the month's end."
    ),
)
def quickbooks_read_budget(quickbooks: QuickBooksResource) -> dg.AssetCheckResult:
    meter = quickbooks.read_meter()
    return dg.AssetCheckResult(
        passed=meter.warning is None,
        description=meter.warning
        or f"{meter.month_to_date:,} reads this month, heading for {meter.projected:,} of {meter.budget:,}",
        metadata={**meter.as_metadata(), "quickbooks_monthly_read_budget": int(meter.budget)},
    )


def _markdown(frame) -> str:
    return frame.to_markdown(index=False, floatfmt=".2f") if len(frame) else "no data yet"


@dg.asset_check(
    asset=sync_health,
    description=(
        "Over the last 24 hours, at least 95% of sync runs succeeded and 95% of orders became invoices within 60 s."
    ),
)
def sync_health_24h(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        health = measure(session, utcnow())
    problems = []
    if health.success_rate_24h < SUCCESS_RATE_FLOOR:
        problems.append(f"only {health.success_rate_24h:.0%} of {health.runs_24h} runs succeeded")
    if health.latency_p95_24h > LATENCY_P95_CEILING_SECONDS:
        problems.append(f"order → invoice p95 is {health.latency_p95_24h:.0f} s")
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems)
        or (
            f"{health.success_rate_24h:.0%} of {health.runs_24h} runs succeeded; "
            f"order → invoice p95 {health.latency_p95_24h:.1f} s"
        ),
        metadata={
            "success_rate_24h": float(health.success_rate_24h),
            "order_latency_p95_24h_seconds": float(health.latency_p95_24h),
        },
    )

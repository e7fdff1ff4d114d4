"""The hourly sync (every QB_SYNC_FREQUENCY_HOURS hours, at most 24), and the daily catch-up: a CDC pull of
what the hourly sync leaves out, so a webhook delivery Intuit lost is found within a day (Intuit's advice)."""

import dagster as dg

from qb_pipeline.automation import DAILY_CATCH_UP, HOURLY_SYNC, on_by_default
from qb_pipeline.jobs import (
    HOURLY_SYNC_JOB,
    PULL_TAG,
    QUICKBOOKS_CHANGES_JOB,
    hourly_selection,
    run_limit_tags,
)
from qb_pipeline.partitions import company_run, served_companies
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.settings import Settings
from qb_pipeline.sync.entities import INVOICES, SYNCED

CATCH_UP_CRON = "30 3 * * *"  # once a day, at a quiet hour


def cron_for(hours: int) -> str:
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


def build_hourly_sync(settings: Settings) -> dg.ScheduleDefinition:
    # QB_PULL_ON_WEBHOOKS_ONLY: pushes only; every read is metered, webhooks say what changed
    pull = {PULL_TAG: "webhooks"} if settings.pull_on_webhooks_only else {}

    def hourly(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        """One run per company: each in its own lane (its partition and realm tag), side by side."""
        realms = served_companies(context.instance, database)
        if not realms:
            yield dg.SkipReason("no company is connected yet (companies_sensor adds each one)")
        for realm in realms:  # (a schedule returns one request, or yields several)
            yield company_run(realm, f"hourly-{_tick_time(context)}", tags={**run_limit_tags(settings), **pull})

    return dg.schedule(  # the decorator: a schedule function given a resource (the database)
        name=HOURLY_SYNC,
        job_name=HOURLY_SYNC_JOB,
        cron_schedule=cron_for(settings.sync_frequency_hours),
        default_status=dg.DefaultScheduleStatus.RUNNING
        if on_by_default(settings)[HOURLY_SYNC]
        else dg.DefaultScheduleStatus.STOPPED,
        description=(
            "For each company: syncs customers, items and pricing, pushes pending orders and retries the failed "
            "ones that are due; prunes the activity log past QB_LOG_RETENTION_DAYS."
        ),
    )(hourly)


def _tick_time(context: dg.ScheduleEvaluationContext) -> str:
    """The tick's scheduled time: with the company, the run key (one run per company per tick)."""
    return context.scheduled_execution_time.strftime("%Y%m%dT%H%M")


def catch_up_assets(settings: Settings) -> list[str]:
    """The mirrored entities the hourly sync does not pull (switched off by QB_AUTO_SYNC_*, or all of them
    with QB_PULL_ON_WEBHOOKS_ONLY): webhooks alone would keep them, and a lost delivery would stay lost. The
    hourly sync pulls the rest by CDC."""
    hourly = set() if settings.pull_on_webhooks_only else set(hourly_selection(settings))
    return sorted(entity.asset for entity in SYNCED.values() if entity.asset not in hourly)


def build_daily_catch_up(settings: Settings) -> dg.ScheduleDefinition:
    assets = catch_up_assets(settings)

    def catch_up(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        if not assets:
            yield dg.SkipReason("the hourly sync pulls customers, items and invoices by CDC: nothing to catch up")
            return
        # Invoices are mirrored only: pushing orders stays switched off (QB_AUTO_SYNC_ORDERS=false).
        run_config = {"ops": {INVOICES.asset: {"config": {"push_orders": False}}}} if INVOICES.asset in assets else {}
        realms = served_companies(context.instance, database)
        if not realms:
            yield dg.SkipReason("no company is connected yet (companies_sensor adds each one)")
        for realm in realms:
            yield company_run(
                realm,
                f"catch-up-{_tick_time(context)}",
                asset_selection=[dg.AssetKey(asset) for asset in assets],
                run_config=run_config,
                tags=run_limit_tags(settings),
            )

    return dg.schedule(
        name=DAILY_CATCH_UP,
        job_name=QUICKBOOKS_CHANGES_JOB,
        cron_schedule=CATCH_UP_CRON,
        default_status=dg.DefaultScheduleStatus.RUNNING
        if on_by_default(settings)[DAILY_CATCH_UP]
        else dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Once a day, pulls by CDC what the hourly sync leaves out (QB_AUTO_SYNC_* off), so a change whose "
            f"webhook was lost is found within a day; skips when the hourly sync pulls everything ({', '.join(assets) or 'now'})."
        ),
    )(catch_up)

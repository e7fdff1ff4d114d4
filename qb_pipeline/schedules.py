"""The hourly sync (every QB_SYNC_FREQUENCY_HOURS hours)."""

import dagster as dg

from qb_pipeline.automation import HOURLY_SYNC, on_by_default
from qb_pipeline.jobs import HOURLY_SYNC_JOB
from qb_pipeline.settings import Settings


def cron_for(hours: int) -> str:
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


def build_hourly_sync(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=HOURLY_SYNC,
        job_name=HOURLY_SYNC_JOB,
        cron_schedule=cron_for(settings.sync_frequency_hours),
        default_status=dg.DefaultScheduleStatus.RUNNING
        if on_by_default(settings)[HOURLY_SYNC]
        else dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Syncs customers, items and pricing, pushes pending orders and retries the failed ones that are "
            "due; prunes the activity log past QB_LOG_RETENTION_DAYS."
        ),
    )

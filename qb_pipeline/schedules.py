"""The hourly sync (every QB_SYNC_FREQUENCY_HOURS hours)."""

import dagster as dg

from qb_pipeline import config
from qb_pipeline.jobs import hourly_sync_job


def cron_for(hours: int) -> str:
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


hourly_sync = dg.ScheduleDefinition(
    name="hourly_sync",
    job=hourly_sync_job,
    cron_schedule=cron_for(config.sync_frequency_hours()),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Syncs customers, items and pricing, pushes pending orders and retries the failed ones that are "
        "due; prunes the activity log past QB_LOG_RETENTION_DAYS."
    ),
)

"""Helpers the assets share: the activity log (and its entry on failure), and what a run serves."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.db import queries
from qb_pipeline.db.models import SyncLog
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.resources import DatabaseResource, QuickBooksResource


def record_activity(database: DatabaseResource, **entry) -> None:
    """One activity-log row; rows older than QB_LOG_RETENTION_DAYS go in the same transaction."""
    with database.session() as session:
        queries.append_sync_log(session, **entry)
        queries.prune_sync_log(session, retention_days=database.log_retention_days)


def record_quickbooks_run(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    stats: CallStats,
    entry: dict,
    seconds: float,
) -> None:
    """A run that called QuickBooks: its activity-log row (`entry`: entity, outcome, message, processed,
    failed; with the run's API calls and retries from `stats`), and the same line in the run log."""
    record_activity(
        database,
        **entry,
        run_id=context.run.run_id,
        realm_id=company_of_run(context),
        duration_seconds=seconds,
        api_calls=stats.total_calls,
        retries=stats.retries,
    )
    context.log.info(f"{entry['entity'].upper()}: {entry['outcome']} - {entry['message']}")


def company_of_run(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str | None:
    """The company a run of a partitioned asset or check is for (its partition); None for an unpartitioned one
    (a check run without one judges every company)."""
    return context.partition_key if context.has_partition_key else None


def read_meter_metadata(
    context: dg.AssetExecutionContext,
    quickbooks: QuickBooksResource,
    stats: CallStats,
    since: tuple[int, int] = (0, 0),
) -> dict[str, int | float]:
    """Adds the calls of `stats` to the company's daily counts; its reads and writes (since the
    `(reads, writes)` of `since`) and the month's reads (to date, projected, share of
    QB_MONTHLY_READ_BUDGET) as metadata, and a warning in the run log when they near the budget."""
    quickbooks.record_calls(stats)
    meter = quickbooks.read_meter()
    if meter.warning:
        context.log.warning(meter.warning)
    return {
        "quickbooks_reads": int(stats.reads - since[0]),
        "quickbooks_writes": int(stats.writes - since[1]),
        **meter.as_metadata(),
    }


def webhook_events_served(context: dg.AssetExecutionContext) -> int:
    """How many QuickBooks change notifications this run serves (0 for a run no webhook launched)."""
    return int(context.run.tags.get("qb_pipeline/webhook_events", "0"))


def recent_activity(session, limit: int = 15) -> str:
    """The activity log's newest rows as a Markdown table (shown on the asset's page in the UI)."""
    rows = session.scalars(sa.select(SyncLog).order_by(SyncLog.logged_at.desc(), SyncLog.id.desc()).limit(limit))
    lines = ["| when (UTC) | what | outcome | message |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {row.logged_at:%Y-%m-%d %H:%M:%S} | {row.entity} | {row.outcome} | {row.message.replace('|', '/')[:200]} |"
        for row in rows
    ]
    return "\n".join(lines)


@contextmanager
def failure_logged(database: DatabaseResource, entity: str, context: dg.AssetExecutionContext) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    except Exception as error:
        record_activity(
            database,
            entity=entity,
            outcome="FAILED",
            message=str(error),
            run_id=context.run.run_id,
            realm_id=company_of_run(context),
            duration_seconds=time.monotonic() - started,
        )
        raise

"""The `price_levels` asset: per-customer pricing, owned by our database (QBO's API has no price levels)."""

import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.assets.activity import company_of_run, record_activity
from qb_pipeline.assets.constants import OWNERS, QUICKBOOKS_GROUP, SYNC_WHEN_MISSING, companies
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.db.models import CustomerItemPrice, CustomerPriceLevel, PriceLevel
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sync.pricing_drop import DropFolderRun, short_reason, take_dropped_files


@dg.asset(
    group_name=QUICKBOOKS_GROUP,
    kinds={"sql"},
    owners=OWNERS,
    deps=[customers, items],
    automation_condition=SYNC_WHEN_MISSING,
    partitions_def=companies,
)
def price_levels(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Price levels and customer prices, loaded from CSV files dropped in QB_PRICING_DROP_DIR."""
    started = time.monotonic()
    run = (
        take_dropped_files(
            Path(database.pricing_drop_dir),
            database.engine,
            settle_seconds=database.pricing_settle_seconds,
            log=context.log,
        )
        if database.pricing_drop_dir
        else DropFolderRun()
    )
    counts = {
        "changes_this_run": int(run.applied),
        "rejected_rows": int(run.rejected_rows),
        "rejected_files": int(run.rejected_files),
        "files_waiting": int(run.waiting),
    }
    if run.kept:
        _record_kept(context, database, run, started)
        # Not green: the file's prices are not in force. A failed step shows in the run, the asset's page
        # and the activity log; the sensor's invoice runs do not include this asset and go on.
        raise dg.Failure(description=run.kept, metadata=counts)
    if run.files:
        _record_applied(context, database, run, started)
    return dg.MaterializeResult(
        metadata={**_pricing_in_force(database), **counts, "seconds": float(round(time.monotonic() - started, 3))}
    )


def _pricing_in_force(database: DatabaseResource) -> dict[str, int]:
    """How many active price levels, and customers with their own prices or a price level, there are now."""
    with database.session() as session:
        levels = session.scalar(sa.select(sa.func.count()).select_from(PriceLevel).where(PriceLevel.active)) or 0
        custom = (
            session.scalar(
                sa.select(sa.func.count(sa.distinct(CustomerItemPrice.customer_id))).where(
                    CustomerItemPrice.valid_to.is_(None)
                )
            )
            or 0
        )
        assigned = (
            session.scalar(
                sa.select(sa.func.count(sa.distinct(CustomerPriceLevel.customer_id))).where(
                    CustomerPriceLevel.valid_to.is_(None)
                )
            )
            or 0
        )
    return {
        "price_levels": int(levels),
        "customers_with_custom_prices": int(custom),
        "customers_with_a_price_level": int(assigned),
    }


def _record_applied(
    context: dg.AssetExecutionContext, database: DatabaseResource, run: DropFolderRun, started: float
) -> None:
    """The activity-log row of a run that read files and kept none."""
    record_activity(
        database,
        entity="Pricing",
        outcome="PARTIAL" if run.rejected_rows else "SUCCESS",
        message=f"Applied {run.applied} pricing rows from {run.files} files"
        + (f", rejected {run.rejected_rows}" if run.rejected_rows else ""),
        processed=run.applied,
        failed=run.rejected_rows,
        run_id=context.run.run_id,
        realm_id=company_of_run(context),
        duration_seconds=time.monotonic() - started,
    )


def _record_kept(
    context: dg.AssetExecutionContext, database: DatabaseResource, run: DropFolderRun, started: float
) -> None:
    """The activity-log row of a run that kept a file; the database may still be unavailable, so at best."""
    try:
        record_activity(
            database,
            entity="Pricing",
            outcome="FAILED",
            message=f"Applied {run.applied} pricing rows; {run.kept}",
            processed=run.applied,
            run_id=context.run.run_id,
            realm_id=company_of_run(context),
            duration_seconds=time.monotonic() - started,
        )
    except sa.exc.SQLAlchemyError as error:
        context.log.warning(f"the activity log could not be written either ({short_reason(error)})")

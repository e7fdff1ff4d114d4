"""The `price_levels` asset: per-customer pricing, owned by our database (QBO's API has no price levels)."""

import shutil
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from qb_pipeline import config
from qb_pipeline.assets.name_lists import GROUP, OWNERS, customers, items
from qb_pipeline.assets.activity import record_activity
from qb_pipeline.db.models import CustomerItemPrice, CustomerPriceLevel, PriceLevel
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sync.pricing_csv import import_pricing


@dg.asset(group_name=GROUP, kinds={"sql"}, owners=OWNERS, deps=[customers, items])
def price_levels(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Price levels and customer prices, loaded from CSV files dropped in QB_PRICING_DROP_DIR."""
    started = time.monotonic()
    applied = rejected = files = 0
    drop_dir = config.pricing_drop_dir()
    if drop_dir is not None and drop_dir.is_dir():
        for path in sorted(drop_dir.glob("*.csv")):
            with database.session() as session, path.open(newline="", encoding="utf-8-sig") as source:
                report = import_pricing(session, source)
            for line, reason in report.errors:
                context.log.warning(f"{path.name} line {line}: {reason}")
            applied, rejected, files = applied + report.applied, rejected + len(report.errors), files + 1
            _archive(path, "rejected" if report.errors and not report.applied else "processed")
            context.log.info(f"{path.name}: {report.applied} rows applied, {len(report.errors)} rejected")
    with database.session() as session:
        levels = session.scalar(sa.select(sa.func.count()).select_from(PriceLevel).where(PriceLevel.active)) or 0
        custom = session.scalar(sa.select(sa.func.count(sa.distinct(CustomerItemPrice.customer_id)))
                                .where(CustomerItemPrice.valid_to.is_(None))) or 0
        assigned = session.scalar(sa.select(sa.func.count(sa.distinct(CustomerPriceLevel.customer_id)))
                                  .where(CustomerPriceLevel.valid_to.is_(None))) or 0
    if files:
        record_activity(database, entity="Pricing", outcome="PARTIAL" if rejected else "SUCCESS",
                        message=f"Applied {applied} pricing rows from {files} files"
                                + (f", rejected {rejected}" if rejected else ""),
                        processed=applied, failed=rejected, run_id=context.run.run_id,
                        duration_seconds=time.monotonic() - started)
    return dg.MaterializeResult(metadata={
        "price_levels": int(levels),
        "customers_with_custom_prices": int(custom),
        "customers_with_a_price_level": int(assigned),
        "changes_this_run": int(applied),
        "rejected_rows": int(rejected),
        "seconds": float(round(time.monotonic() - started, 3)),
    })


def _archive(path: Path, folder: str) -> None:
    target = path.parent / folder
    target.mkdir(exist_ok=True)
    shutil.move(str(path), target / f"{int(time.time())}-{path.name}")

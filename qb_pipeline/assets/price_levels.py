"""The `price_levels` asset: per-customer pricing, owned by our database (QBO's API has no price levels)."""

import shutil
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from qb_pipeline.assets.activity import record_activity
from qb_pipeline.assets.constants import OWNERS, QUICKBOOKS_GROUP
from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.db.models import CustomerItemPrice, CustomerPriceLevel, PriceLevel
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.sync.pricing_csv import (
    PricingFileError,
    import_pricing,
    read_pricing_file,
)


@dg.asset(group_name=QUICKBOOKS_GROUP, kinds={"sql"}, owners=OWNERS, deps=[customers, items])
def price_levels(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Price levels and customer prices, loaded from CSV files dropped in QB_PRICING_DROP_DIR."""
    started = time.monotonic()
    applied = rejected = files = rejected_files = 0
    drop_dir = Path(database.pricing_drop_dir) if database.pricing_drop_dir else None
    if drop_dir is not None and drop_dir.is_dir():
        for path in sorted(drop_dir.glob("*.csv")):
            files += 1
            changed, reasons = _import_file(database, path)
            if reasons:
                # All or nothing per file: a bad file is set aside with its reasons and never blocks the
                # files after it, nor this asset (so nor the invoice push downstream).
                rejected, rejected_files = rejected + len(reasons), rejected_files + 1
                archived = _archive(path, "rejected")
                archived.with_name(archived.name + ".reason.txt").write_text("\n".join(reasons) + "\n")
                for reason in reasons:
                    context.log.warning(reason)
                context.log.warning(f"{path.name}: rejected, nothing applied (reasons in {archived.name}.reason.txt)")
            else:
                applied += changed
                _archive(path, "processed")
                context.log.info(f"{path.name}: applied ({changed} changes)")
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
    if files:
        record_activity(
            database,
            entity="Pricing",
            outcome="PARTIAL" if rejected else "SUCCESS",
            message=f"Applied {applied} pricing rows from {files} files"
            + (f", rejected {rejected}" if rejected else ""),
            processed=applied,
            failed=rejected,
            run_id=context.run.run_id,
            duration_seconds=time.monotonic() - started,
        )
    return dg.MaterializeResult(
        metadata={
            "price_levels": int(levels),
            "customers_with_custom_prices": int(custom),
            "customers_with_a_price_level": int(assigned),
            "changes_this_run": int(applied),
            "rejected_rows": int(rejected),
            "rejected_files": int(rejected_files),
            "seconds": float(round(time.monotonic() - started, 3)),
        }
    )


def _import_file(database: DatabaseResource, path: Path) -> tuple[int, list[str]]:
    """Import one dropped file strictly: (rows that changed something, the reasons it was refused)."""
    try:
        text = read_pricing_file(path)
        with database.session() as session:
            report = import_pricing(session, text, strict=True)
    except PricingFileError as error:
        return 0, [str(error)]
    except Exception as error:  # a file we cannot read must not stop the others
        return 0, [f"{path.name}: could not be imported ({type(error).__name__}: {error})"]
    return report.applied, [f"{path.name} line {line}: {reason}" for line, reason in report.errors]


def _archive(path: Path, folder: str) -> Path:
    target = path.parent / folder
    target.mkdir(exist_ok=True)
    moved = target / f"{int(time.time())}-{path.name}"
    shutil.move(str(path), moved)
    return moved

"""Asset checks: what a data engineer wants to know is still true after each sync."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from qb_pipeline.assets.name_lists import customers, items
from qb_pipeline.db import queries
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.errors import QuickBooksError
from qb_pipeline.resources import DatabaseResource, QuickBooksResource

UNLINKED_GRACE = timedelta(hours=1)
REFRESH_TOKEN_WARNING = timedelta(days=14)


def _link_check(entity: str, database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        stuck = queries.unlinked_older_than(session, entity, UNLINKED_GRACE)
        linked, total = queries.link_coverage(session, entity)
    return dg.AssetCheckResult(
        passed=not stuck,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(stuck)} {entity.lower()}s created over an hour ago are not in QuickBooks yet: "
                     + ", ".join(repr(n) for n in stuck[:5])) if stuck else f"{linked}/{total} linked",
        metadata={"linked": int(linked), "total": int(total), "unlinked_over_an_hour": len(stuck)},
    )


@dg.asset_check(asset=customers, description="Every local customer older than an hour is linked to QuickBooks.")
def customers_linked(database: DatabaseResource) -> dg.AssetCheckResult:
    return _link_check("Customer", database)


@dg.asset_check(asset=items, description="Every local item older than an hour is linked to QuickBooks.")
def items_linked(database: DatabaseResource) -> dg.AssetCheckResult:
    return _link_check("Item", database)


@dg.asset_check(asset=customers, description=(
    "The QuickBooks connection answers, and its refresh token is not within 14 days of expiry "
    "(reconnect with `qb-pipeline auth connect` before it lapses)."))
def quickbooks_connection(quickbooks: QuickBooksResource, database: DatabaseResource) -> dg.AssetCheckResult:
    try:
        gateway = quickbooks.gateway(database)
        gateway.count("CompanyInfo")
    except (QuickBooksError, OSError) as error:
        return dg.AssetCheckResult(passed=False, description=f"QuickBooks is not reachable: {error}")
    with database.session() as session:
        token = session.get(QBToken, gateway.realm_id)
        expires = token.refresh_expires_at if token else None
    days_left = (expires - utcnow()).total_seconds() / 86400 if expires else None
    passed = days_left is None or days_left > REFRESH_TOKEN_WARNING.days
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description="connected" if passed else f"the refresh token expires in {days_left:.1f} days: reconnect soon",
        metadata={"refresh_token_days_left": float(round(days_left, 1)) if days_left is not None else -1.0},
    )

"""Freshness of the QuickBooks assets, following QB_SYNC_FREQUENCY_HOURS: fresh while materialized within
one sync interval, late past it, failed past two. The UI shows it on each asset's page."""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from qb_pipeline.sync.entities import SYNCED

FRESHNESS_MARGIN = timedelta(minutes=15)  # the run itself takes a while
KEPT_FRESH = {dg.AssetKey(entity.asset) for entity in SYNCED.values()}  # every entity we sync


def sync_freshness(sync_frequency_hours: int) -> dg.FreshnessPolicy:
    hours = timedelta(hours=sync_frequency_hours)
    return dg.FreshnessPolicy.time_window(
        fail_window=2 * hours + FRESHNESS_MARGIN, warn_window=hours + FRESHNESS_MARGIN
    )


def with_sync_freshness(assets: Sequence, sync_frequency_hours: int) -> list:
    """`assets`, the QuickBooks ones carrying the freshness policy of this sync frequency."""
    policy = sync_freshness(sync_frequency_hours)
    return dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=policy) if spec.key in KEPT_FRESH else spec, assets
    )

"""The `payments` and `credit_memos` assets: QuickBooks receivables mirrored (sync/receivables_mirror.py),
built from their registry entries (sync/entities.py) as the name lists' are. After `invoices` in a run, so that a payment of an
invoice made since the last sync finds that invoice mirrored."""

import time

import dagster as dg

from qb_pipeline.assets.activity import (
    failure_logged,
    read_meter_metadata,
    record_quickbooks_run,
    webhook_events_served,
)
from qb_pipeline.assets.invoices import invoices
from qb_pipeline.assets.name_lists import entity_asset, pull_left_to_webhooks, pulled_in_run
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.entities import CREDIT_MEMOS, PAYMENTS, SyncedEntity
from qb_pipeline.sync.receivables_mirror import mirror_receivables


def mirror_entity(
    context: dg.AssetExecutionContext, quickbooks: QuickBooksResource, database: DatabaseResource, entity: SyncedEntity
) -> dg.MaterializeResult:
    """Mirror what changed of `entity`, record one activity-log row; what is set apart or cannot be
    followed is warned in the run log and counted in the metadata."""
    started = time.monotonic()
    gateway = quickbooks.gateway(context.partition_key, progress=context.log.info)
    with failure_logged(database, entity.label, context):
        mirrored = mirror_receivables(
            gateway,
            database.engine,
            entity.name,
            together_with=pulled_in_run(context),
            read=not pull_left_to_webhooks(context),
        )
    for sentence in mirrored.set_apart + mirrored.findings.sentences():
        context.log.warning(sentence)
    seconds = time.monotonic() - started
    entry = dict(
        entity=entity.label,
        outcome="SUCCESS",
        message=mirrored.summary(entity.label),
        processed=mirrored.mirrored,
        failed=0,
    )
    record_quickbooks_run(context, database, gateway.stats, entry, seconds)
    return dg.MaterializeResult(
        metadata={
            **mirrored.as_metadata(),
            **gateway.stats.as_metadata(),
            **read_meter_metadata(context, quickbooks, gateway.stats),
            "throttle_waits": int(gateway.throttle.waits),
            "seconds": float(round(seconds, 3)),
            "webhook_events_served": webhook_events_served(context),
        }
    )


payments = entity_asset(PAYMENTS, mirror_entity, deps=[invoices])
credit_memos = entity_asset(CREDIT_MEMOS, mirror_entity, deps=[invoices])
RECEIVABLES_ASSETS = [payments, credit_memos]

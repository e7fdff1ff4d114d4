"""The assets built from the entity registry (sync/entities.py), one per entry without an asset of its own:
`customers` and `items`, QuickBooks name lists mirrored both ways (an entry we only mirror is pulled alone)."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from qb_pipeline.assets.activity import (
    failure_logged,
    read_meter_metadata,
    record_quickbooks_run,
    webhook_events_served,
)
from qb_pipeline.assets.constants import OWNERS, QUICKBOOKS_GROUP, SYNC_WHEN_MISSING, companies
from qb_pipeline.db import queries
from qb_pipeline.jobs import PULL_TAG
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.resources import DatabaseResource, QuickBooksResource
from qb_pipeline.sync.companies import answered_for_by
from qb_pipeline.sync.entities import CUSTOMERS, ITEMS, SYNCED, SyncedEntity
from qb_pipeline.sync.order_actions import revive_orders_naming_known_records
from qb_pipeline.sync.pull import PullResult, pull_name_list
from qb_pipeline.sync.push import PushResult, income_account_for_new_rows, push_name_list


@dataclass
class Synced:
    """What one sync of an entity did, and the state of its table after it."""

    pulled: PullResult
    pushed: PushResult
    coverage: tuple[int, int] = (0, 0)  # (linked, total) now
    released: list[str] | None = None  # orders that go again: the names they waited for came in

    def as_metadata(self, context: dg.AssetExecutionContext, calls: dict[str, int], waits: int, seconds: float):
        """The numbers a sync reports, plotted on the asset's page: every event of the asset carries all of
        them, or its plots have holes."""
        linked, total = self.coverage
        return {
            "dagster/row_count": int(total),
            **self.pulled.as_metadata(),
            **self.pushed.as_metadata(),
            "linked_by_name": int(self.pushed.linked + self.pulled.linked),
            "linked": int(linked),
            "total": int(total),
            **calls,
            "throttle_waits": int(waits),
            "seconds": float(round(seconds, 3)),
            "orders_released": len(self.released or []),
            "webhook_events_served": webhook_events_served(context),
        }


def pull_left_to_webhooks(context: dg.AssetExecutionContext) -> bool:
    """A scheduled run under QB_PULL_ON_WEBHOOKS_ONLY: it pushes, and reads nothing from QuickBooks."""
    return context.run.tags.get(PULL_TAG) == "webhooks"


def pulled_in_run(context: dg.AssetExecutionContext) -> list[str]:
    """The mirrored entities whose assets this run materializes: the first pull asks QuickBooks for the
    changes of them all in one CDC call (a metered read), the later ones take their part."""
    selected = {key.to_user_string() for key in context.job_def.asset_layer.selected_asset_keys}
    return [entity.name for entity in SYNCED.values() if entity.asset in selected]


def _after_pull(database: DatabaseResource, entity: SyncedEntity, synced: Synced, realm: str) -> None:
    """Orders waiting for a name this sync brought in go again; the company's coverage, read after."""
    with database.session() as session:
        synced.released = revive_orders_naming_known_records(session)
        synced.coverage = queries.link_coverage(session, entity.model, answered_for_by(entity.model, realm))


def _pull_and_push(
    context: dg.AssetExecutionContext,
    gateway: QuickBooksGateway,
    quickbooks: QuickBooksResource,
    database: DatabaseResource,
    entity: SyncedEntity,
) -> Synced:
    if pull_left_to_webhooks(context):
        pulled = PullResult(entity.name, "webhooks")
    else:
        pulled = pull_name_list(
            gateway, database.engine, entity.name, progress=context.log.info, together_with=pulled_in_run(context)
        )
    for conflict in pulled.conflicts:
        context.log.warning(conflict)
    if not entity.pushed:
        return Synced(pulled, PushResult(entity.name))
    income_account = income_account_for_new_rows(
        gateway, database.engine, [entity], quickbooks.default_income_account_id
    )
    pushed = push_name_list(gateway, database.engine, entity.name, default_income_account_id=income_account)
    return Synced(pulled, pushed)


def sync_entity(
    context: dg.AssetExecutionContext,
    quickbooks: QuickBooksResource,
    database: DatabaseResource,
    entity: SyncedEntity,
) -> dg.MaterializeResult:
    """Pull what changed in QuickBooks, push what changed here, record one activity-log row."""
    started = time.monotonic()
    gateway = quickbooks.gateway(context.partition_key, progress=context.log.info)
    with failure_logged(database, entity.label, context):
        synced = _pull_and_push(context, gateway, quickbooks, database, entity)
    for error in synced.pushed.errors:
        context.log.warning(error)
    seconds = time.monotonic() - started
    _after_pull(database, entity, synced, gateway.realm_id)
    pulled, pushed = synced.pulled, synced.pushed
    entry = dict(
        entity=entity.label,
        outcome="PARTIAL" if pushed.failed else "SUCCESS",
        message=f"{pulled.summary(entity.label)}; {pushed.summary()}; linked {pushed.linked + pulled.linked} by name",
        processed=pulled.pulled + pushed.created + pushed.updated,
        failed=pushed.failed,
    )
    record_quickbooks_run(context, database, gateway.stats, entry, seconds)
    if synced.released:
        context.log.info(
            f"{len(synced.released)} orders that named a {entity.word} unknown until now go again: "
            + ", ".join(synced.released[:10])
        )
    calls = {**gateway.stats.as_metadata(), **read_meter_metadata(context, quickbooks, gateway.stats)}
    return dg.MaterializeResult(metadata=synced.as_metadata(context, calls, gateway.throttle.waits, seconds))


def pull_for_an_invoices_run(
    context: dg.AssetExecutionContext,
    quickbooks: QuickBooksResource,
    gateway: QuickBooksGateway,
    database: DatabaseResource,
    entity: SyncedEntity,
) -> None:
    """Pull what changed of one name list inside an invoices run (its orders name records not mirrored yet),
    recorded as an observation of that asset carrying the series of its own materializations. Not a
    materialization: logged after the invoices step read its inputs' versions, that would show `invoices`
    as unsynced with every order synced."""
    started = time.monotonic()
    calls, waits = gateway.stats.snapshot(), gateway.throttle.waits
    metered_from = (gateway.stats.reads, gateway.stats.writes)
    pulled = pull_name_list(
        gateway, database.engine, entity.name, progress=context.log.info, together_with=list(SYNCED)
    )
    synced = Synced(pulled, PushResult(entity.name))
    _after_pull(database, entity, synced, gateway.realm_id)
    context.log_event(
        dg.AssetObservation(
            asset_key=entity.asset,
            description="pulled by the invoices run: its orders named records not mirrored yet",
            metadata=synced.as_metadata(
                context,
                {
                    **gateway.stats.as_metadata(since=calls),
                    **read_meter_metadata(context, quickbooks, gateway.stats, since=metered_from),
                },
                gateway.throttle.waits - waits,
                time.monotonic() - started,
            ),
        )
    )


def entity_asset(
    entity: SyncedEntity, materialize: Callable[..., dg.MaterializeResult] = sync_entity, deps: Sequence = ()
) -> dg.AssetsDefinition:
    """The asset that syncs `entity` as its registry entry says (`materialize`: what one run of it does,
    by default a pull and a push); a fresh stack syncs it at once (SYNC_WHEN_MISSING)."""

    @dg.asset(
        name=entity.asset,
        description=entity.description,
        group_name=QUICKBOOKS_GROUP,
        kinds={"quickbooks", "sql"},
        owners=OWNERS,
        deps=list(deps),
        partitions_def=companies,
        automation_condition=SYNC_WHEN_MISSING,
    )
    def sync(
        context: dg.AssetExecutionContext, quickbooks: QuickBooksResource, database: DatabaseResource
    ) -> dg.MaterializeResult:
        return materialize(context, quickbooks, database, entity)

    return sync


# Every entry's asset but those written out (invoices: assets/invoices.py).
ENTITY_ASSETS = {name: entity_asset(entity) for name, entity in SYNCED.items() if not entity.own_asset}
customers = ENTITY_ASSETS[CUSTOMERS.name]
items = ENTITY_ASSETS[ITEMS.name]

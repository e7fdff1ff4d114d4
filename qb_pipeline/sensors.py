"""The sensors: new_orders_sensor (an order that is due — new, put back after a failed run, or failed with
its retry time come — becomes a QuickBooks invoice within seconds) and quickbooks_changes_sensor (a
change QuickBooks notified reaches the database in seconds)."""

import json
import time

import dagster as dg
import sqlalchemy as sa

from qb_pipeline import config
from qb_pipeline.automation import (
    NEW_ORDERS_SENSOR,
    QUICKBOOKS_AUTOMATION_SENSOR,
    QUICKBOOKS_CHANGES_SENSOR,
    on_by_default,
)
from qb_pipeline.db import queries
from qb_pipeline.db.models import Order
from qb_pipeline.db.types import utcnow
from qb_pipeline.jobs import (
    AUTO_SYNC_ASSETS,
    PUSH_INVOICES_JOB,
    QUICKBOOKS_CHANGES_JOB,
    WEBHOOK_EVENTS_TAG,
    WEBHOOK_THROUGH_TAG,
    hourly_selection,
    run_limit_tags,
)
from qb_pipeline.partitions import build_companies_sensor, company_run, partition_tag, served_companies
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.settings import Settings
from qb_pipeline.sync.entities import CREDIT_MEMOS, INVOICES, PAYMENTS, SYNCED
from qb_pipeline.sync.webhook_events import mark_served, serve_already_mirrored, waiting_events

ACTIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# What a new database is filled with at once: the assets built from registry entries (asset → the entity its
# sync cursor is kept for).
FULLY_PULLED_WHEN_NEW = {entity.asset: entity.name for entity in SYNCED.values() if not entity.own_asset}
# What a fresh stack's first sync materializes: what reads QuickBooks (customers, items, price_levels,
# invoices, payments, credit memos); the reports and sync_health follow with the next hourly run.
QUICKBOOKS_ASSETS = {*AUTO_SYNC_ASSETS.values(), PAYMENTS.asset, CREDIT_MEMOS.asset}
# After a push run fails (QuickBooks down, a revoked connection), the orders it held are due again at
# once; waiting this long before trying them again keeps a broken connection from a run every tick.
PAUSE_AFTER_FAILED_RUN_SECONDS = 30


def due_orders_by_company(session, default_realm: str) -> dict[str, tuple[int, object]]:
    """Each company's due orders: (how many, the newest one's creation time). An order naming no company
    is the default company's (the one company, when there is one)."""
    rows = session.execute(
        sa.select(Order.realm_id, sa.func.count(), sa.func.max(Order.created_at))
        .where(queries.claimable_orders())
        .group_by(Order.realm_id)
    ).all()
    due: dict[str, tuple[int, object]] = {}
    for realm, count, newest in rows:
        realm = realm or default_realm
        before, newest_before = due.get(realm, (0, None))
        due[realm] = (before + count, max(filter(None, (newest, newest_before)), default=None))
    return due


def launch_push_when_orders_are_due(
    context: dg.SensorEvaluationContext, database: DatabaseResource, default_realm: str
):
    """One push per company with due orders, none for a company whose push is queued or running."""
    # Driven by what is due, not by an order id: a cursor from another database cannot hide an order.
    with database.session() as session:
        due_by_company = due_orders_by_company(session, default_realm)
    if not due_by_company:
        return dg.SkipReason("no order is due")
    known = set(served_companies(context.instance, database))  # companies_sensor adds each within seconds
    requests, skipped = [], []
    launches = _launches(context.cursor)
    for realm, (due, newest_created) in sorted(due_by_company.items()):
        skip = (
            _push_waits(context, realm, due, newest_created)
            if realm in known
            else f"company {realm} has no partition yet, or was disconnected"
        )
        if skip:
            skipped.append(skip)
            continue
        launches += 1
        # The time keeps run keys unique even when someone resets the cursor in the UI.
        requests.append(
            company_run(realm, f"push-{launches}-{int(time.time())}", tags={"qb_pipeline/due_orders": str(due)})
        )
    if not requests:
        return dg.SkipReason("; ".join(skipped))
    context.update_cursor(json.dumps({"launches": launches}))
    return requests


def _push_waits(context: dg.SensorEvaluationContext, realm: str, due: int, newest_created) -> str | None:
    """Why company `realm`'s due orders wait, or None to push them now."""
    # Why: a queued or running push claims every due order when it starts; a second run would only wait
    # behind it in the run queue (pushes are serialized per realm).
    # its partition's tag: every run of the company carries it, one launched from the UI included
    runs = dg.RunsFilter(job_name=PUSH_INVOICES_JOB, statuses=ACTIVE_RUN_STATUSES, tags=partition_tag(realm))
    if context.instance.get_run_records(runs, limit=1):
        return f"{due} due orders wait for the push already queued or running"
    failed = context.instance.get_run_records(
        dg.RunsFilter(job_name=PUSH_INVOICES_JOB, statuses=[dg.DagsterRunStatus.FAILURE], tags=partition_tag(realm)),
        limit=1,
    )
    if failed and failed[0].end_time and time.time() - failed[0].end_time < PAUSE_AFTER_FAILED_RUN_SECONDS:
        started = failed[0].start_time or failed[0].end_time
        if newest_created is None or newest_created.timestamp() <= started:
            wait = PAUSE_AFTER_FAILED_RUN_SECONDS - (time.time() - failed[0].end_time)
            return f"the last push failed; {due} due orders are tried again in {wait:.0f} s"
    return None


def _launches(cursor: str | None) -> int:
    try:
        return int(json.loads(cursor)["launches"]) if cursor else 0
    except (ValueError, TypeError, KeyError):
        return 0  # a cursor of an older version (an order id): start counting again


def _settle_last_pull(
    context: dg.SensorEvaluationContext, database: DatabaseResource, realm: str, acknowledged: dict[str, str]
) -> str | None:
    """Company `realm`'s last changes run: still going (why it waits), succeeded (its notifications served,
    once: `acknowledged` gains it), or failed just now (why it waits a while)."""
    last = context.instance.get_run_records(
        dg.RunsFilter(job_name=QUICKBOOKS_CHANGES_JOB, tags=partition_tag(realm)), limit=1
    )
    if not last:
        return None
    run = last[0].dagster_run
    if run.status in ACTIVE_RUN_STATUSES:
        if WEBHOOK_EVENTS_TAG not in run.tags:
            return "a full pull of a new database is running now"
        return f"{run.tags[WEBHOOK_EVENTS_TAG]} notifications are being pulled now"
    through = run.tags.get(WEBHOOK_THROUGH_TAG)
    if run.status == dg.DagsterRunStatus.SUCCESS and through and run.run_id != acknowledged.get(realm):
        with database.session() as session:
            served = mark_served(session, int(through), run.run_id, utcnow(), realm_id=realm)
            queries.append_sync_log(
                session,
                entity="Webhooks",
                outcome="SUCCESS",
                processed=served,
                run_id=run.run_id,
                message=f"Pulled what {served} QuickBooks change notifications named",
            )
        acknowledged[realm] = run.run_id
    elif (
        run.status == dg.DagsterRunStatus.FAILURE
        and last[0].end_time
        and time.time() - last[0].end_time < PAUSE_AFTER_FAILED_RUN_SECONDS
    ):
        return "the last pull failed; its notifications are pulled again shortly"
    return None


def launch_pull_when_quickbooks_notified(
    context: dg.SensorEvaluationContext, database: DatabaseResource, default_realm: str
):
    """One pull per company whose QuickBooks notified changes: a run pulls its own company's."""
    acknowledged = _acknowledged(context.cursor, default_realm)
    skipped, free = [], []
    for realm in served_companies(context.instance, database):
        skip = _settle_last_pull(context, database, realm, acknowledged)
        if skip:
            skipped.append(skip)
        else:
            free.append(realm)
    context.update_cursor(json.dumps({"acknowledged": acknowledged}))
    with database.session() as session:
        pulled = queries.pulled_entities(session)
        already = serve_already_mirrored(session, utcnow())
    # Dagster remembers these as synced, so nothing else would pull them before the next hourly run; but
    # this database was never pulled into (new, restored, or made again after its folder was deleted).
    never_pulled = [
        asset
        for asset, entity in FULLY_PULLED_WHEN_NEW.items()
        if entity not in pulled and context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    ]
    if never_pulled:
        selection = [dg.AssetKey(asset) for asset in never_pulled]
        key = f"new-database-{'-'.join(never_pulled)}-{int(time.time())}"
        requests = [company_run(realm, key, asset_selection=selection) for realm in free]
    else:
        requests = []
        for realm in free:
            request = _pull_request(context, database, realm)
            if isinstance(request, dg.RunRequest):
                requests.append(request)
            else:
                skipped.append(request)
    if requests:
        return requests
    if already and not skipped:
        return dg.SkipReason(f"{already} notifications named what a run had already mirrored: nothing to pull")
    return dg.SkipReason("; ".join(dict.fromkeys(skipped)) or "no QuickBooks change notification is waiting")


def _pull_request(context: dg.SensorEvaluationContext, database: DatabaseResource, realm: str) -> dg.RunRequest | str:
    """Company `realm`'s pull of what its notifications name, or why there is none now."""
    with database.session() as session:
        count, newest, assets = waiting_events(session, realm)
    if not count:
        return "no QuickBooks change notification is waiting"
    pushing = context.instance.get_run_records(
        dg.RunsFilter(job_name=PUSH_INVOICES_JOB, statuses=ACTIVE_RUN_STATUSES, tags=partition_tag(realm)), limit=1
    )
    if assets == {INVOICES.asset} and pushing:
        # Why: the push mirrors invoices when it ends, and a pull now would only wait behind it.
        return f"{count} invoice notifications wait for the push running now, which mirrors invoices"
    # A notified invoice change is mirrored only: pushing orders is new_orders_sensor's job.
    run_config = {"ops": {INVOICES.asset: {"config": {"push_orders": False}}}} if INVOICES.asset in assets else {}
    return company_run(
        realm,
        f"changes-through-{newest}-{int(time.time())}",
        asset_selection=[dg.AssetKey(name) for name in sorted(assets)],
        run_config=run_config,
        tags={WEBHOOK_EVENTS_TAG: str(count), WEBHOOK_THROUGH_TAG: str(newest)},
    )


def _acknowledged(cursor: str | None, default_realm: str) -> dict[str, str]:
    """Each company's last changes run whose notifications are served (an older cursor held one run id)."""
    acknowledged = _cursor(cursor).get("acknowledged")
    if isinstance(acknowledged, str):
        return {default_realm: acknowledged}
    return dict(acknowledged) if isinstance(acknowledged, dict) else {}


def build_sensors(settings: Settings) -> list:
    """The sensors as `settings` configure them (interval, on or off)."""
    on = {
        name: dg.DefaultSensorStatus.RUNNING if is_on else dg.DefaultSensorStatus.STOPPED
        for name, is_on in on_by_default(settings).items()
    }
    new_orders_sensor = dg.sensor(
        name=NEW_ORDERS_SENSOR,
        job_name=PUSH_INVOICES_JOB,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=on[NEW_ORDERS_SENSOR],
        description=(
            "Launches push_invoices_job when any order is due: pending, or failed with its retry time come. "
            "One run at a time: orders that come due while a push runs go with the next one. "
            "Off when QB_AUTO_SYNC_ORDERS=false."
        ),
    )(_with_default_realm(launch_push_when_orders_are_due, config.realm_tag(settings)))
    quickbooks_changes_sensor = dg.sensor(
        name=QUICKBOOKS_CHANGES_SENSOR,
        job_name=QUICKBOOKS_CHANGES_JOB,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=on[QUICKBOOKS_CHANGES_SENSOR],
        description=(
            "When QuickBooks change notifications (webhooks) wait, launches one run that pulls the assets "
            "they concern by CDC — many notifications, one pull — and marks them served once that run "
            "succeeded. One run at a time; notifications that arrive meanwhile go with the next. Also pulls "
            "customers and items in full when Dagster remembers them as synced but this database never was "
            "(a new or restored database, or a deleted data folder made again)."
        ),
    )(_with_default_realm(launch_pull_when_quickbooks_notified, config.realm_tag(settings)))
    # Declarative automation: what the hourly sync syncs is synced as soon as a fresh stack starts (missing),
    # in one run, without waiting for the first hourly run.
    first_sync = [asset for asset in hourly_selection(settings) if asset in QUICKBOOKS_ASSETS]
    quickbooks_automation_sensor = dg.AutomationConditionSensorDefinition(
        QUICKBOOKS_AUTOMATION_SENSOR,
        target=dg.AssetSelection.assets(*first_sync),
        default_status=on[QUICKBOOKS_AUTOMATION_SENSOR],
        minimum_interval_seconds=10,
        run_tags=run_limit_tags(settings),
        description=(
            f"Materializes {', '.join(first_sync) or 'nothing (every QB_AUTO_SYNC_* is false)'} when they have never been (a fresh stack): the first sync, "
            "of what QB_AUTO_SYNC_* switch on."
        ),
    )
    return [
        new_orders_sensor,
        quickbooks_changes_sensor,
        quickbooks_automation_sensor,
        build_companies_sensor(settings),
    ]


def _with_default_realm(evaluate, default_realm: str):
    """The sensor function Dagster calls (context and resources), with the default company given."""

    def evaluation(context: dg.SensorEvaluationContext, database: DatabaseResource):
        return evaluate(context, database, default_realm)

    evaluation.__name__ = evaluate.__name__
    return evaluation


def _cursor(text: str | None) -> dict:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}

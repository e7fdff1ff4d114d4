"""new_orders_sensor: a new order becomes a QuickBooks invoice within seconds."""

import dagster as dg
import sqlalchemy as sa

from qb_pipeline import config
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.jobs import push_invoices_job
from qb_pipeline.resources import DatabaseResource

ACTIVE_RUN_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                       dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


@dg.sensor(
    job=push_invoices_job,
    minimum_interval_seconds=config.sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING if config.auto_sync("orders") else dg.DefaultSensorStatus.STOPPED,
    description=("Launches push_invoices_job when orders newer than the last launch are pending. One run at a time: "
                 "orders that arrive while a push runs go with the next one. Off when QB_AUTO_SYNC_ORDERS=false."),
)
def new_orders_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
    last_launched = int(context.cursor or 0)
    with database.session() as session:
        newest, waiting = session.execute(
            sa.select(sa.func.max(Order.id), sa.func.count())
            .where(Order.status == OrderStatus.PENDING, Order.id > last_launched)
        ).one()
    if not waiting:
        return dg.SkipReason("no new orders")
    # Why: a queued or running push claims every due order when it starts; a second run would only wait
    # behind it in the run queue (pushes are serialized per realm).
    busy = context.instance.get_run_records(
        dg.RunsFilter(job_name=push_invoices_job.name, statuses=ACTIVE_RUN_STATUSES), limit=1)
    if busy:
        return dg.SkipReason(f"{waiting} new orders wait for the push already queued or running")
    context.update_cursor(str(newest))
    return dg.RunRequest(run_key=f"orders-through-{newest}",
                         tags={"qb_pipeline/new_orders": str(waiting)})

"""`qb-pipeline status` and `qb-pipeline log`: the state of the sync at a glance, and the activity log."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone

import click
import sqlalchemy as sa

from qb_pipeline import config
from qb_pipeline.commands.common import database
from qb_pipeline.db import queries
from qb_pipeline.db.models import CustomerItemPrice, CustomerPriceLevel, Order, QBToken, SyncLog
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def next_run(hours: int, now: datetime) -> datetime:
    """The next firing of `0 */hours * * *` (UTC) after `now`."""
    candidate = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while candidate.hour % hours:
        candidate += timedelta(hours=1)
    return candidate


def _automation_states() -> dict[str, str]:
    """hourly_sync and new_orders_sensor as the Dagster instance knows them (when DAGSTER_HOME is set)."""
    states = {"hourly_sync": "RUNNING (default)",
              "new_orders_sensor": "RUNNING (default)" if config.auto_sync("orders") else "STOPPED (default)"}
    if not os.environ.get("DAGSTER_HOME"):
        return {name: f"{state}; DAGSTER_HOME not set" for name, state in states.items()}
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        for state in instance.all_instigator_state():
            if state.name in states:
                states[state.name] = state.status.value
    return states


def collect_status(engine: sa.Engine) -> dict:
    now = utcnow()
    with session_scope(engine) as session:
        token = session.scalars(sa.select(QBToken)).first()
        by_status = dict(session.execute(sa.select(Order.status, sa.func.count()).group_by(Order.status)).all())
        customers_linked, customers_total = queries.link_coverage(session, "Customer")
        items_linked, items_total = queries.link_coverage(session, "Item")
        custom = session.scalar(sa.select(sa.func.count(sa.distinct(CustomerItemPrice.customer_id)))
                                .where(CustomerItemPrice.valid_to.is_(None))) or 0
        leveled = session.scalar(sa.select(sa.func.count(sa.distinct(CustomerPriceLevel.customer_id)))
                                 .where(CustomerPriceLevel.valid_to.is_(None))) or 0
        last = {row.entity: row for row in session.scalars(
            sa.select(SyncLog).where(SyncLog.id.in_(sa.select(sa.func.max(SyncLog.id)).group_by(SyncLog.entity))))}
    return {
        "quickbooks": {
            "environment": config.quickbooks_environment(),
            "connected": token is not None,
            "realm_id": token.realm_id if token else None,
            "access_token_expires_at": _iso(token.access_expires_at) if token else None,
            "refresh_token_expires_at": _iso(token.refresh_expires_at) if token else None,
            "last_successful_refresh": _iso(token.refreshed_at) if token else None,
            "last_successful_call": _iso(token.last_success_at) if token else None,
        },
        "customers": {"linked": customers_linked, "total": customers_total},
        "items": {"linked": items_linked, "total": items_total},
        "orders": {status.value: count for status, count in by_status.items()},
        "customers_with_custom_pricing": int(max(custom, leveled)),
        "last_sync": {entity: {"at": _iso(row.logged_at), "outcome": row.outcome, "message": row.message}
                      for entity, row in last.items()},
        "next_scheduled_sync": _iso(next_run(config.sync_frequency_hours(), now)),
        "automation": _automation_states(),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Connection, linked/total per type, orders by state, pricing, last and next sync, automation."""
    data = collect_status(database())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    qb = data["quickbooks"]
    click.echo(f"QuickBooks     {qb['environment']}: " + (f"connected to company {qb['realm_id']}, refresh token "
               f"valid until {qb['refresh_token_expires_at'] or 'unknown'}" if qb["connected"]
               else "not connected (run `qb-pipeline auth connect`)"))
    for kind in ("customers", "items"):
        click.echo(f"{kind.capitalize():<14} {data[kind]['linked']}/{data[kind]['total']} linked")
    orders = data["orders"]
    click.echo("Orders         " + (", ".join(f"{n} {s}" for s, n in sorted(orders.items())) or "none"))
    click.echo(f"Pricing        {data['customers_with_custom_pricing']} customers with custom pricing")
    for entity, last in sorted(data["last_sync"].items()):
        click.echo(f"Last {entity.lower():<9} {last['at']} {last['outcome']} - {last['message']}")
    click.echo(f"Next sync      {data['next_scheduled_sync']} (every {config.sync_frequency_hours()} h)")
    for name, state in data["automation"].items():
        click.echo(f"{name:<14} {state}")


def parse_since(text: str, now: datetime) -> datetime:
    match = re.fullmatch(r"(\d+)\s*([mhd])", text.strip())
    if match:
        amount, unit = int(match[1]), match[2]
        return now - {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use 30m, 2h, 7d or an ISO date-time", param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@click.command("log")
@click.option("--since", default="7d", show_default=True, help="30m, 2h, 7d, or an ISO date-time.")
@click.option("--entity", default=None, help="customers, items, invoices or pricing.")
@click.option("--failed", is_flag=True, help="Only FAILED and PARTIAL entries.")
@click.option("--limit", default=50, show_default=True)
def log(since: str, entity: str | None, failed: bool, limit: int) -> None:
    """The activity log, newest first."""
    query = sa.select(SyncLog).where(SyncLog.logged_at >= parse_since(since, utcnow()))
    if entity:
        query = query.where(SyncLog.entity == entity.upper())
    if failed:
        query = query.where(SyncLog.outcome != "SUCCESS")
    with session_scope(database()) as session:
        rows = session.scalars(query.order_by(SyncLog.logged_at.desc(), SyncLog.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("no activity in that window")
    for row in rows:
        click.echo(f"{row.logged_at:%Y-%m-%d %H:%M:%S}  {row.entity}: {row.outcome} - {row.message}")

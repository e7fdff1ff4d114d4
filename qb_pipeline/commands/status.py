"""`qb-pipeline status` and `qb-pipeline log`: the state of the sync at a glance, and the activity log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click

from qb_pipeline import config
from qb_pipeline.automation import on_by_default
from qb_pipeline.commands.common import dagster_instance, database, parse_since
from qb_pipeline.commands.companies import company_line, read_views, view_as_dict
from qb_pipeline.core.tokens import nearest_end, renewal_notice
from qb_pipeline.db import queries
from qb_pipeline.db.api_calls import read_meter
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.status_reads import activity_since, read_status
from qb_pipeline.db.types import utcnow
from qb_pipeline.stack_record import read_record
from qb_pipeline.sync.entities import NAME_LISTS, SYNCED
from qb_pipeline.sync.wording import plural

CONNECTED_MARGIN = timedelta(minutes=30)  # "connected": QuickBooks answered within one sync interval plus this margin
LOCAL_ACTIVITY = ("PRICING", "ORDERS")  # activity-log entries that call no QuickBooks API (CSV import, retry)
LOG_ENTITIES = [*(entity.words for entity in SYNCED.values()), "pricing", "orders", "webhooks"]  # activity-log names
DAEMON_SILENT_AFTER = 120  # seconds without a heartbeat before the daemon counts as not running
NOT_RUNNING = "make dev is not running"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def next_run(hours: int, now: datetime) -> datetime:
    """The next firing of `0 */hours * * *` (UTC) after `now`."""
    candidate = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while candidate.hour % hours:
        candidate += timedelta(hours=1)
    return candidate


def _stack_state() -> tuple[str, str]:
    """(state, what to tell a person) of the make dev that last ran with this data folder, from its record:
    running, stopping, stopped, left behind (killed, some of its processes still running), or unknown."""
    record = read_record(config.data_dir())
    if record is None:
        return "unknown", "no make dev has run with this data folder"
    return record.state()


def _automation_states(stack_stopped: bool) -> dict[str, str]:
    """Every schedule and sensor the definitions hold, as the Dagster instance that runs them knows them:
    RUNNING or STOPPED (a state left to the code is the code's default, which the settings decide). With the
    stack stopped, nothing evaluates them: a RUNNING one is only configured so."""
    states = {name: "RUNNING" if on else "STOPPED" for name, on in on_by_default(config.settings()).items()}
    with dagster_instance() as instance:
        for state in instance.all_instigator_state() if instance is not None else []:
            if state.name in states and state.status.value in ("RUNNING", "STOPPED"):
                states[state.name] = state.status.value
    if stack_stopped:
        return {
            name: f"configured; stopped ({NOT_RUNNING})" if state == "RUNNING" else state
            for name, state in states.items()
        }
    if instance is None:
        return {
            name: f"{state} (by default; no Dagster instance here yet: start make dev)"
            for name, state in states.items()
        }
    return states


def _daemon_state(now: datetime) -> str:
    """Whether the Dagster daemon (schedules, sensors, run queue) is alive: its newest heartbeat."""
    with dagster_instance() as instance:
        if instance is None:
            return "unknown (no Dagster instance here yet: start make dev)"
        beats = [beat.timestamp for beat in instance.get_daemon_heartbeats().values() if beat]
    if not beats:
        return "not running (no heartbeat): schedules and sensors are not evaluated"
    age = now.timestamp() - max(beats)
    return (
        f"alive (last heartbeat {age:.0f} s ago)"
        if age < DAEMON_SILENT_AFTER
        else f"not running: last heartbeat {_ago(timedelta(seconds=age))} ago"
    )


def connection_state(current, token, last_failure: tuple[datetime, str] | None, now: datetime) -> tuple[bool, str]:
    """(connected, what to tell a person): connected only when QuickBooks answered recently and no call
    failed after that. `last_failure` is the newest failed QuickBooks run: (when, its error)."""
    if current.environment != "sandbox-local":
        missing = [
            name
            for name, value in (
                ("QB_CLIENT_ID", current.client_id),
                ("QB_CLIENT_SECRET", current.client_secret),
                ("QB_REALM_ID", current.realm_id),
            )
            if not value
        ]
        if missing:
            return False, f"not configured: set {', '.join(missing)}"
        if token is not None and token.realm_id != current.realm_id:
            return False, (
                f"not connected to company {current.realm_id} (the stored tokens are for "
                f"{token.realm_id}): run `qb-pipeline auth connect`"
            )
    if token is None:
        return False, (
            "connects on first sync"
            if current.environment == "sandbox-local"
            else "not connected: run `qb-pipeline auth connect`"
        )
    succeeded = token.last_success_at
    # Only an error newer than the last success says anything about the connection now.
    failure = last_failure[1] if last_failure and (succeeded is None or last_failure[0] > succeeded) else None
    recently = timedelta(hours=current.sync_frequency_hours) + CONNECTED_MARGIN
    if succeeded and failure is None and now - succeeded <= recently:
        return True, f"connected to company {token.realm_id}"
    if succeeded is None:
        return False, "no successful call yet" + (f": {failure}" if failure else "")
    return False, f"last successful call {_ago(now - succeeded)} ago" + (f": {failure}" if failure else "")


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 90:
        return plural(minutes, "minute")
    if minutes < 48 * 60:
        return plural(minutes // 60, "hour")
    return plural(minutes // 1440, "day")


def _connection(token: QBToken | None, failure, now: datetime, stopped: bool) -> tuple[bool, str]:
    """(connected, what to tell a person) of the QuickBooks connection, with make dev stopped or not."""
    connected, state = connection_state(config.settings(), token, tuple(failure) if failure else None, now)
    if stopped and config.quickbooks_environment() == "sandbox-local":
        last_call = token.last_success_at if token else None
        return (
            False,
            "not connected: the bundled sandbox stopped with make dev"
            + (f" (last successful call {_ago(now - last_call)} ago)" if last_call else ""),
        )
    if stopped:
        state += f"; {NOT_RUNNING}, so nothing syncs"
    return connected, state


def collect_status(engine) -> dict:
    now = utcnow()
    current = config.settings()
    with session_scope(engine) as session:
        reads = read_status(session, LOCAL_ACTIVITY)
        coverage = {entity.asset: queries.link_coverage(session, entity.model) for entity in NAME_LISTS.values()}
        meter = read_meter(  # every company's: Intuit meters reads per app
            session,
            now,
            budget=current.monthly_read_budget,
            warn_share=current.read_budget_warn_share,
        )
    token, failure, last = reads.token, reads.last_quickbooks_failure, reads.last_by_entity
    companies = read_views(engine)
    stack, stack_message = _stack_state()
    stopped = stack in ("stopping", "stopped")
    connected, state = _connection(token, failure, now, stopped)
    return {
        "make_dev": {"state": stack, "message": stack_message},
        "quickbooks": {
            "environment": config.quickbooks_environment(),
            "connected": connected,
            "state": state,
            "realm_id": token.realm_id if token else None,
            "access_token_expires_at": _iso(token.access_expires_at) if token else None,
            "refresh_token_expires_at": _iso(token.refresh_expires_at) if token else None,  # unused 100 days
            "refresh_token_hard_end": _iso(token.refresh_hard_expires_at) if token else None,  # five years
            # what to do, within 30 days of either end
            "renew": renewal_notice(nearest_end(token.refresh_expires_at, token.refresh_hard_expires_at), now)
            if token
            else None,
            "last_successful_refresh": _iso(token.refreshed_at) if token else None,
            "last_successful_call": _iso(token.last_success_at) if token else None,
        },
        **{asset: {"linked": linked, "total": total} for asset, (linked, total) in coverage.items()},
        "quickbooks_reads": {  # metered by Intuit: docs/qbo-api.md §15
            "month_to_date": meter.month_to_date,
            "projected_month": meter.projected,
            "monthly_budget": meter.budget,
            "writes_month_to_date": meter.writes_month_to_date,
            "warning": meter.warning,
        },
        "orders": {status.value: count for status, count in reads.orders_by_status.items()},
        "companies": [view_as_dict(view) for view in companies],  # one a line, see `companies list`
        "customers_with_custom_pricing": int(reads.customers_with_custom_pricing),
        "dagster_daemon": f"not running ({NOT_RUNNING})" if stopped else _daemon_state(now),
        "last_sync": {
            entity: {"at": _iso(row.logged_at), "outcome": row.outcome, "message": row.message}
            for entity, row in last.items()
        },
        "next_scheduled_sync": _iso(next_run(config.sync_frequency_hours(), now)),
        "webhook_events": {
            "received": reads.webhooks_received,
            "waiting": reads.webhooks_waiting,
            "last_received_at": _iso(reads.webhook_last_received_at),
        },
        "automation": _automation_states(stack_stopped=stopped),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Whether make dev runs, connection, linked/total per type, orders, pricing, last and next sync, automation."""
    data = collect_status(database())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    qb = data["quickbooks"]
    click.echo(
        f"QuickBooks     {qb['environment']}: {qb['state']}"
        + (
            f", refresh token valid until {qb['refresh_token_expires_at'] or 'unknown'} (unused), "
            f"hard end {qb['refresh_token_hard_end'] or 'not told yet'}"
            if qb["connected"]
            else ""
        )
    )
    if qb["renew"]:
        click.echo(f"{'':<14} {qb['renew']}")
    for company in data["companies"]:
        click.echo(f"{'Company':<14} {company_line(company)}")
    click.echo(f"{'make dev':<14} {data['make_dev']['message']}")
    metered = data["quickbooks_reads"]
    click.echo(
        f"{'Reads':<14} {metered['month_to_date']:,} QuickBooks reads this month, heading for "
        f"{metered['projected_month']:,} of a budget of {metered['monthly_budget']:,}; "
        f"{metered['writes_month_to_date']:,} writes (not metered)"
    )
    if metered["warning"]:
        click.echo(f"{'':<14} {metered['warning']}")
    for kind in (entity.asset for entity in NAME_LISTS.values()):
        click.echo(f"{kind.capitalize():<14} {data[kind]['linked']}/{data[kind]['total']} synced")
    orders = data["orders"]
    click.echo("Orders         " + (", ".join(f"{n} {s}" for s, n in sorted(orders.items())) or "none"))
    click.echo(
        f"Pricing        {plural(data['customers_with_custom_pricing'], 'customer')} with their own prices "
        "or a price level"
    )
    click.echo(f"Dagster daemon {data['dagster_daemon']}")
    for entity, last in sorted(data["last_sync"].items()):
        click.echo(f"Last {entity.lower():<9} {last['at']} {last['outcome']} - {last['message']}")
    click.echo(f"Next sync      {data['next_scheduled_sync']} (every {config.sync_frequency_hours()} h)")
    events = data["webhook_events"]
    click.echo(
        f"Webhooks       {plural(events['received'], 'event')} received, {events['waiting']} waiting"
        + (f", last at {events['last_received_at']}" if events["last_received_at"] else "")
    )
    for n, (name, state) in enumerate(data["automation"].items()):
        click.echo(f"{'Automation' if n == 0 else '':<14} {name}: {state}")


@click.command("log")
@click.option("--since", default="7d", show_default=True, help="30m, 2h, 7d, or an ISO date-time.")
@click.option(
    "--entity", default=None, type=click.Choice(LOG_ENTITIES, case_sensitive=False), help="Only this kind of activity."
)
@click.option("--failed", is_flag=True, help="Only FAILED and PARTIAL entries.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="At most this many rows.")
def log(since: str, entity: str | None, failed: bool, limit: int) -> None:
    """The activity log, newest first."""
    with session_scope(database()) as session:
        rows = activity_since(session, parse_since(since, utcnow()), entity, failed, limit)
    if not rows:
        what = " ".join(
            part for part in ("failed or partial" if failed else "", entity.lower() if entity else "") if part
        )
        click.echo(f"no {what + ' ' if what else ''}activity since {since}")
    for row in rows:
        click.echo(f"{row.logged_at:%Y-%m-%d %H:%M:%S}  {row.entity}: {row.outcome} - {row.message}")

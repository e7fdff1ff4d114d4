"""`qb-pipeline companies`: the QuickBooks companies this deployment serves — list, rename, disconnect."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import click
import sqlalchemy as sa

from qb_pipeline import config
from qb_pipeline.commands.common import database
from qb_pipeline.core.tokens import nearest_end
from qb_pipeline.db import companies as company_rows
from qb_pipeline.db.company_reads import CompanyView, company_views
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow


@click.group()
def companies() -> None:
    """The QuickBooks companies this pipeline serves (`qb-pipeline auth connect` adds one)."""


@companies.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_companies(as_json: bool) -> None:
    """Each company: realm, name, connected or not, when its token ends, last sync, QuickBooks calls this month."""
    views = read_views(database())
    if as_json:
        click.echo(json.dumps([view_as_dict(view) for view in views], indent=2))
        return
    if not views:
        click.echo("no company connected yet: run `qb-pipeline auth connect`")
    for view in views:
        company = view_as_dict(view)
        click.echo(
            f"{view.realm_id:<18} {view.name}: {company['state']}; last sync {_day_time(view.last_sync_at) or 'never'}; "
            f"{view.reads_this_month:,} reads, {view.writes_this_month:,} writes this month"
        )


def company_line(company: dict) -> str:
    """One company in `status`: connected or not, last sync, its orders, its reads this month."""
    last, realm, name = company["last_sync_at"], company["realm_id"], company["name"]
    return (
        f"{realm if name == realm else f'{realm} {name}'}: {company['state']}; last sync {last or 'never'}; "
        f"orders {company['orders_waiting']} waiting, {company['orders_failed']} failed; "
        f"{company['reads_this_month']:,} reads this month"
    )


@companies.command()
@click.argument("realm")
@click.argument("name")
def rename(realm: str, name: str) -> None:
    """Give company REALM the name NAME (what lists and status call it)."""
    name = name.strip()
    if not name:
        raise click.ClickException("give the company a name that is not empty")
    with session_scope(database()) as session:
        company = _known(session, realm)
        before, company.name = company.name, name
    click.echo(f"company {realm} is now called {name!r} (was {before!r})")


@companies.command()
@click.argument("realm")
@click.option("--delete-data", is_flag=True, help="Also delete every row of this company from the database.")
@click.option("--yes", is_flag=True, help="With --delete-data: do not ask for confirmation.")
def disconnect(realm: str, delete_data: bool, yes: bool) -> None:
    """Revoke company REALM's connection at Intuit and forget its tokens; its data is kept unless --delete-data."""
    engine = database()
    with session_scope(engine) as session:
        name = _known(session, realm).name
    if delete_data and not yes:
        click.confirm(
            f"delete every row of company {realm} ({name}) from the database? This cannot be undone", abort=True
        )
    revoked = _revoke(engine, realm)
    with session_scope(engine) as session:
        session.execute(sa.delete(QBToken).where(QBToken.realm_id == realm))
        company_rows.record_disconnected(session, realm)
        deleted = company_rows.delete_company_rows(session, realm) if delete_data else {}
    click.echo(
        f"company {realm} ({name}) disconnected: "
        + ("its connection revoked at QuickBooks" if revoked else "it had no stored connection to revoke")
        + (
            f"; {sum(deleted.values()):,} rows of it deleted ({', '.join(f'{t} {n}' for t, n in sorted(deleted.items()))})"
            if delete_data
            else "; its data is kept (`--delete-data` deletes it)"
        )
    )


def read_views(engine: sa.Engine) -> list[CompanyView]:
    with session_scope(engine) as session:
        return company_views(session, utcnow().date(), orders_realm=config.settings().realm_id or None)


def _known(session, realm: str) -> company_rows.Company:
    """The company REALM, or one line naming the companies there are."""
    company = company_rows.find(session, realm)
    if company is None:
        known = ", ".join(c.realm_id for c in company_rows.all_companies(session)) or "none yet"
        raise click.ClickException(f"no company {realm!r} here (companies: {known}; see `qb-pipeline companies list`)")
    return company


def _revoke(engine: sa.Engine, realm: str) -> bool:
    """Revoke the company's connection at Intuit (or the bundled sandbox) with its stored refresh token."""
    from qb_pipeline.commands.auth import cipher, settings_from_environment
    from qb_pipeline.db.token_store import DatabaseTokenStore
    from qb_pipeline.quickbooks.connection import Connection
    from qb_pipeline.quickbooks.consent import revoke

    store = DatabaseTokenStore(engine, cipher())
    if store.load(realm) is None:
        return False
    settings = dataclasses.replace(settings_from_environment(), realm_id=realm)
    return revoke(Connection(settings, store))


def _state(view: CompanyView) -> str:
    if view.disconnected_at is not None:
        return f"disconnected {_day_time(view.disconnected_at)}"
    if not view.has_token:
        return "connects on first sync" if view.environment == "sandbox-local" else "not connected (no token)"
    end = nearest_end(view.refresh_expires_at, view.refresh_hard_end)
    return "connected" + (f", token ends {end.at:%Y-%m-%d} ({end.what})" if end else "")


def _day_time(value: datetime | None) -> str | None:
    return f"{value:%Y-%m-%d %H:%M}" if value else None


def view_as_dict(view: CompanyView) -> dict:
    end = nearest_end(view.refresh_expires_at, view.refresh_hard_end)
    return {
        "realm_id": view.realm_id,
        "name": view.name,
        "environment": view.environment,
        "connected": view.connected,
        "state": _state(view),
        "connected_at": _iso(view.connected_at),
        "disconnected_at": _iso(view.disconnected_at),
        "token_ends": end.at.date().isoformat() if end else None,
        "last_sync_at": _iso(view.last_sync_at),
        "reads_this_month": view.reads_this_month,
        "writes_this_month": view.writes_this_month,
        "orders_waiting": view.orders_waiting,
        "orders_failed": view.orders_failed,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None

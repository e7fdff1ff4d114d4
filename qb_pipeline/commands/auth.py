"""`qb-pipeline auth`: connect to a QuickBooks company with OAuth, as a user does in a browser."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import click

from qb_pipeline import config
from qb_pipeline.commands.common import database
from qb_pipeline.commands.status import collect_status
from qb_pipeline.db.token_cipher import TokenCipher, load_key, new_key
from qb_pipeline.db.token_store import DatabaseTokenStore
from qb_pipeline.quickbooks.connection import Connection, ConnectionSettings
from qb_pipeline.quickbooks.factory import intuit_settings, sandbox_settings


def settings_from_environment() -> ConnectionSettings:
    current = config.settings()
    if current.environment == "sandbox-local":
        local = sandbox_settings(config.sandbox_connection_file(current), timeout_seconds=current.timeout_seconds)[0]
        # The sandbox accepts any redirect URI: QB_REDIRECT_URI (default the file's) picks our listener's port.
        return dataclasses.replace(local, redirect_uri=current.redirect_uri or local.redirect_uri)
    missing = [
        name
        for name, value in (("QB_CLIENT_ID", current.client_id), ("QB_CLIENT_SECRET", current.client_secret))
        if not value
    ]
    if missing:
        raise click.ClickException(f"set {' and '.join(missing)} (your Intuit app's keys) first")
    return intuit_settings(
        client_id=current.client_id,
        client_secret=current.client_secret,
        realm_id=current.realm_id,
        environment=current.environment,
        redirect_uri=current.redirect_uri,
        timeout_seconds=current.timeout_seconds,
    )


@click.group()
def auth() -> None:
    """The connection to QuickBooks (tokens are stored encrypted in the project database)."""


class _Callback(BaseHTTPRequestHandler):
    result: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        type(self).result = params
        ok = "code" in params
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(
            b"Connected to QuickBooks: you can close this tab."
            if ok
            else f"QuickBooks did not authorize: {params.get('error', 'no code')}".encode()
        )

    def log_message(self, *_args) -> None:  # the query string holds the one-time code: keep it out of logs
        pass


@auth.command()
@click.option("--no-browser", is_flag=True, help="Only print the URL to open.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the redirect.")
@click.option(
    "--serve",
    is_flag=True,
    help="Keep answering: serve the Reconnect URL (/reconnect) and the redirect URI until stopped.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address to bind.")
@click.option("--name", default=None, help="What to call the company (default: its name in QuickBooks).")
def connect(no_browser: bool, timeout: int, serve: bool, host: str, name: str | None) -> None:
    """Authorize this pipeline for a QuickBooks company (OAuth 2 authorization code flow); adds the company,
    or connects it again."""
    from intuitlib.enums import Scopes

    settings = settings_from_environment()
    engine = database()
    connection = Connection(settings, DatabaseTokenStore(engine, cipher()))
    redirect = urlparse(settings.redirect_uri)
    if serve:
        _serve_reconnect(connection, host, redirect.port or 80, redirect.path)
        return
    auth_client = connection.auth_client()
    if redirect.hostname not in ("127.0.0.1", "localhost"):
        raise click.ClickException("QB_REDIRECT_URI must point at this machine (http://127.0.0.1:PORT/…)")
    state = secrets.token_urlsafe(16)
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    server = HTTPServer(("127.0.0.1", redirect.port or 80), _Callback)
    server.timeout = timeout
    waiter = threading.Thread(target=server.handle_request, daemon=True)
    waiter.start()
    click.echo(f"Open this URL to connect QuickBooks:\n{url}")
    if not no_browser:
        webbrowser.open(url)
    waiter.join(timeout + 5)
    server.server_close()
    answer = _Callback.result
    if answer.get("state") != state or "code" not in answer:
        raise click.ClickException("no valid answer from QuickBooks (timed out, denied, or the state did not match)")
    # Timed out at QB_TIMEOUT_SECONDS; a silent token endpoint or a refused code is one line (cli.py).
    tokens = connection.exchange_code(answer["code"], answer.get("realmId"))
    realm = tokens.realm_id
    connection.tokens.save(tokens)
    company = _record_company(engine, dataclasses.replace(settings, realm_id=realm), name)
    click.echo(
        f"connected to QuickBooks company {realm} ({company})"
        + ("" if realm == settings.realm_id or not settings.realm_id else " (set QB_REALM_ID to it)")
        + (
            f"; this consent ends {tokens.refresh_hard_expires_at:%Y-%m-%d} (the refresh token's hard end)"
            if tokens.refresh_hard_expires_at
            else ""
        )
    )


def _record_company(engine, settings: ConnectionSettings, name: str | None) -> str:
    """The company just connected, added or connected again; its name: `name`, else the one it has, else the
    CompanyName QuickBooks reports (one metered read, counted), else its realm id."""
    from qb_pipeline.db import companies
    from qb_pipeline.db.api_calls import add_calls
    from qb_pipeline.db.session import session_scope
    from qb_pipeline.db.types import utcnow
    from qb_pipeline.quickbooks.consent import company_name

    with session_scope(engine) as session:
        known = companies.find(session, settings.realm_id)
        needs_name = not name and (known is None or known.name == settings.realm_id)
    connection = Connection(settings, DatabaseTokenStore(engine, cipher()))
    reported = company_name(connection) if needs_name else None
    with session_scope(engine) as session:
        add_calls(session, settings.realm_id, utcnow().date(), reads=connection.stats.reads, writes=0)
        company = companies.record_connected(
            session, settings.realm_id, config.quickbooks_environment(), name=name, reported_name=reported
        )
        return company.name


def _serve_reconnect(connection: Connection, host: str, port: int, callback_path: str) -> None:
    """`auth connect --serve`: answer Intuit's Reconnect URL for this deployment's company until stopped."""
    import uvicorn

    from qb_pipeline.commands.reconnect import RECONNECT_PATH, ReconnectFlow

    realm = connection.realm_id
    if not realm:
        raise click.ClickException("QB_REALM_ID is not set: the Reconnect URL serves only your company")

    def connected(realm_id: str) -> None:
        _record_company(connection.tokens.engine, connection.settings, None)  # connected again, if disconnected
        click.echo(f"[reconnect] connected to QuickBooks company {realm_id} again", err=True)

    flow = ReconnectFlow(connection, realm, connected)
    click.echo(
        f"[reconnect] serving the Reconnect URL for company {realm} on http://{host}:{port}{RECONNECT_PATH}"
        f" (callback {callback_path or '/'})",
        err=True,
    )
    # No access log: the callback's query string holds the one-time authorization code.
    uvicorn.run(flow.app(callback_path), host=host, port=port, log_level="warning", access_log=False)


@auth.command("status")
def auth_status() -> None:
    """Realm, access and refresh token expiry, last refresh, last successful call."""
    qb = collect_status(database())["quickbooks"]
    if qb["realm_id"] is None:
        raise click.ClickException(
            qb["state"] if qb["state"].startswith("not configured") else "not connected: run `qb-pipeline auth connect`"
        )
    click.echo(
        f"company {qb['realm_id']} ({qb['environment']}): {qb['state']}\n"
        f"access token expires   {qb['access_token_expires_at']}\n"
        f"refresh token expires  {qb['refresh_token_expires_at']} (unless used before)\n"
        f"refresh token hard end {qb['refresh_token_hard_end'] or 'not told yet'} (renewed only by a new consent)\n"
        f"last refresh           {qb['last_successful_refresh'] or 'never'}\n"
        f"last successful call   {qb['last_successful_call'] or 'never'}" + (f"\n{qb['renew']}" if qb["renew"] else "")
    )


@auth.command("new-key")
def new_key_command() -> None:
    """Print a new QB_TOKEN_KEY (store it in your secret manager)."""
    click.echo(new_key())


def cipher() -> TokenCipher:
    current = config.settings()
    return TokenCipher(load_key(current.token_key or None, current.resolved_data_dir, current.environment))

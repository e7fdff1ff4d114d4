"""Building a gateway from settings: for Intuit (sandbox or production) or the local sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from qb_pipeline.core import defaults
from qb_pipeline.core.errors import SandboxNotRunning
from qb_pipeline.core.tokens import StoredTokens
from qb_pipeline.db.token_cipher import TokenCipher
from qb_pipeline.db.token_store import DatabaseTokenStore
from qb_pipeline.quickbooks.connection import INTUIT_API, Connection, ConnectionSettings
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.quickbooks.paging import PAGES_IN_FLIGHT
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.quickbooks.throttle import Throttle


def sandbox_settings(
    connection_file: Path, timeout_seconds: float = defaults.TIMEOUT_SECONDS, realm_id: str = ""
) -> tuple[ConnectionSettings, str | None]:
    """Settings for a company of the local sandbox, and the refresh token it offers (None when it offers none).

    connection.json names the first company; `realm_id` another: its own file, connections/<realm>.json
    beside it (the sandbox writes one per company it serves), or else the app's settings for that realm
    and no token (a company connected by `auth connect` has its tokens in the database already)."""
    data = _read_connection(Path(connection_file))
    if realm_id and realm_id != data["realm_id"]:
        own = Path(connection_file).parent / "connections" / f"{realm_id}.json"
        data = _read_connection(own) if own.exists() else {**data, "realm_id": realm_id, "refresh_token": None}
    settings = ConnectionSettings(
        client_id=data["client_id"],
        client_secret=data["client_secret"],
        realm_id=data["realm_id"],
        redirect_uri=data["redirect_uri"],
        environment=data["discovery_url"],
        api_base_url=data["api_base_url"],
        timeout_seconds=timeout_seconds,
    )
    return settings, data["refresh_token"]


def sandbox_realm(connection_file: Path) -> str:
    """The company connection.json names: the bundled sandbox's first (the one a single-company user has)."""
    return str(_read_connection(Path(connection_file))["realm_id"])


def _read_connection(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SandboxNotRunning(
            f"{path} does not exist: start the sandbox (`make dev` or `qb-pipeline sandbox serve`)"
        ) from None


def intuit_settings(
    *,
    client_id: str,
    client_secret: str,
    realm_id: str,
    redirect_uri: str,
    environment: str,
    timeout_seconds: float = defaults.TIMEOUT_SECONDS,
) -> ConnectionSettings:
    if environment not in INTUIT_API:
        raise ValueError(f"QB_ENVIRONMENT must be sandbox-local, sandbox or production (got {environment!r})")
    return ConnectionSettings(
        client_id=client_id,
        client_secret=client_secret,
        realm_id=realm_id,
        redirect_uri=redirect_uri,
        environment=environment,
        api_base_url=INTUIT_API[environment],
        timeout_seconds=timeout_seconds,
    )


def connect(
    settings: ConnectionSettings, engine: sa.Engine, cipher: TokenCipher, *, bootstrap_refresh_token: str | None = None
) -> Connection:
    """A connection whose tokens live in the project database.

    `bootstrap_refresh_token` (the local sandbox's) is stored only when the realm has no tokens yet:
    the sandbox needs no OAuth consent step, real QuickBooks does (`qb-pipeline auth connect`). That first
    connection adds the sandbox's company to the companies known, as `auth connect` adds a company.
    """
    tokens = DatabaseTokenStore(engine, cipher)
    if bootstrap_refresh_token and tokens.load(settings.realm_id) is None:
        with tokens.locked(settings.realm_id) as locked:
            if locked.load() is None:
                locked.save(StoredTokens(settings.realm_id, refresh_token=bootstrap_refresh_token))
        tokens.record_connected(settings.realm_id, "sandbox-local")
    return Connection(settings, tokens, CallStats())


def build_gateway(
    settings: ConnectionSettings,
    engine: sa.Engine,
    cipher: TokenCipher,
    *,
    bootstrap_refresh_token: str | None = None,
    retries: int = defaults.RETRIES,
    batch_size: int = defaults.BATCH_SIZE,
    throttle_wait: float = defaults.THROTTLE_WAIT_SECONDS,
    pages_in_flight: int = PAGES_IN_FLIGHT,
    request_limit_seconds: float = defaults.REQUEST_LIMIT_SECONDS,
    progress=lambda _m: None,
    company_timezone: str = "",
) -> QuickBooksGateway:
    """A gateway on a new connection (see `connect`), for scripts and tests; Dagster runs share one
    connection per run through QuickBooksResource."""
    connection = connect(settings, engine, cipher, bootstrap_refresh_token=bootstrap_refresh_token)
    return QuickBooksGateway(
        connection,
        retries=retries,
        batch_size=batch_size,
        throttle_wait=throttle_wait,
        pages_in_flight=pages_in_flight,
        throttle=Throttle(abandoned_hold_seconds=request_limit_seconds),
        progress=progress,
        company_timezone=company_timezone,
    )

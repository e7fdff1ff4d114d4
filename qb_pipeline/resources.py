"""Dagster resources: the project database and the QuickBooks connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr
from sqlalchemy.orm import Session

from qb_pipeline import config
from qb_pipeline.core.defaults import QBO_REQUEST_LIMIT_SECONDS, SETTLE_SECONDS
from qb_pipeline.db.session import engine_for, redact_url, session_scope
from qb_pipeline.db.token_cipher import TokenCipher, load_key
from qb_pipeline.quickbooks.connection import Connection
from qb_pipeline.quickbooks.factory import connect, intuit_settings, sandbox_settings
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.quickbooks.throttle import Throttle
from qb_pipeline.settings import DEFAULT_REDIRECT_URI, Settings


class DatabaseResource(dg.ConfigurableResource):
    """The project database: SQLite by default, PostgreSQL in production (QB_DATABASE_URL), with the
    settings of what it keeps: the activity log's retention, how long an order may wait before the
    orders_not_waiting check says so, and the folder pricing CSV files are dropped in."""

    url: str
    log_retention_days: int = 30  # QB_LOG_RETENTION_DAYS
    pending_alert_minutes: float = 15.0  # QB_PENDING_ALERT_MINUTES
    pricing_drop_dir: str = ""  # QB_PRICING_DROP_DIR; empty: no drop folder
    pricing_settle_seconds: float = (
        SETTLE_SECONDS  # QB_PRICING_SETTLE_SECONDS: a dropped file unchanged this long is taken
    )

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)

    @property
    def display_url(self) -> str:
        """The URL with its password hidden: the only form of it that may be logged."""
        return redact_url(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with session_scope(self.engine) as session:
            yield session


class QuickBooksResource(dg.ConfigurableResource):
    """One QuickBooks Online company: the bundled sandbox (sandbox-local), Intuit's sandbox, or production.

    A run's assets and checks share one connection (its tokens) and one throttle, built when first
    needed — so a check can report a sandbox that is not running instead of failing the run's start —
    and dropped when the run ends. Each asset gets a gateway of its own, counting its own calls.
    """

    database: DatabaseResource
    environment: str = "sandbox-local"
    client_id: str = ""
    client_secret: str = ""
    realm_id: str = ""
    redirect_uri: str = DEFAULT_REDIRECT_URI
    sandbox_connection_file: str = ""
    token_key: str = ""  # QB_TOKEN_KEY; empty = the embedded default's generated key file
    timeout_seconds: float = 30.0
    retries: int = 3
    batch_size: int = 30
    throttle_wait_seconds: float = 60.0
    request_limit_seconds: float = QBO_REQUEST_LIMIT_SECONDS  # how long a request we gave up on holds its slot
    default_income_account_id: str = ""  # for new Service items; empty = the first Income account
    orders_per_run: int = 5000  # QB_ORDERS_PER_RUN: how many due orders one push claims
    company_timezone: str = ""  # QB_COMPANY_TIMEZONE: an IANA name; empty = Pacific time, checked against QuickBooks
    key_dir: str = ""  # where the embedded default's generated token key lives (QB_DATA_DIR)

    _connection: Connection | None = PrivateAttr(default=None)
    _throttle: Throttle | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._connection = self._throttle = None  # both made by the run's first gateway()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._connection = self._throttle = None

    def gateway(self, progress: Callable[[str], None] = lambda _m: None) -> QuickBooksGateway:
        """A gateway for one asset or check on the run's connection and throttle. Raises a
        QuickBooksError (SandboxNotRunning included) when the company cannot be reached."""
        if self._connection is None:
            self._connection = self._connect()
        if self._throttle is None:
            self._throttle = Throttle(abandoned_hold_seconds=self.request_limit_seconds)
        return QuickBooksGateway(
            self._connection,
            retries=self.retries,
            batch_size=self.batch_size,
            throttle_wait=self.throttle_wait_seconds,
            throttle=self._throttle,
            stats=CallStats(),
            progress=progress,
            company_timezone=self.company_timezone,
        )

    def _connect(self) -> Connection:
        key_dir = Path(self.key_dir) if self.key_dir else config.data_dir()
        cipher = TokenCipher(load_key(self.token_key or None, key_dir, self.environment))
        bootstrap = None
        if self.environment == "sandbox-local":
            settings, bootstrap = sandbox_settings(
                self.sandbox_connection_file or config.sandbox_connection_file(), self.timeout_seconds
            )
        else:
            settings = intuit_settings(
                client_id=self.client_id,
                client_secret=self.client_secret,
                realm_id=self.realm_id,
                redirect_uri=self.redirect_uri,
                environment=self.environment,
                timeout_seconds=self.timeout_seconds,
            )
        return connect(settings, self.database.engine, cipher, bootstrap_refresh_token=bootstrap)


def _secret(value: str, variable: str) -> str | dg.EnvVar:
    """An EnvVar when the variable is set (the UI shows its name, never its value), else empty."""
    return dg.EnvVar(variable) if value else ""


def database_resource(settings: Settings) -> DatabaseResource:
    """From QB_DATABASE_URL when set (as an EnvVar: it may hold a password), else the SQLite file under
    QB_DATA_DIR."""
    url = dg.EnvVar("QB_DATABASE_URL") if settings.database_url else settings.resolved_database_url
    return DatabaseResource(
        url=url,
        log_retention_days=settings.log_retention_days,
        pending_alert_minutes=settings.pending_alert_minutes,
        pricing_drop_dir=str(settings.pricing_drop_dir or ""),
        pricing_settle_seconds=settings.pricing_settle_seconds,
    )


def quickbooks_resource(settings: Settings, database: DatabaseResource) -> QuickBooksResource:
    return QuickBooksResource(
        database=database,
        environment=settings.environment,
        client_id=_secret(settings.client_id, "QB_CLIENT_ID"),
        client_secret=_secret(settings.client_secret, "QB_CLIENT_SECRET"),
        realm_id=_secret(settings.realm_id, "QB_REALM_ID"),
        redirect_uri=settings.redirect_uri,
        sandbox_connection_file=str(config.sandbox_connection_file(settings)),
        token_key=_secret(settings.token_key, "QB_TOKEN_KEY"),
        timeout_seconds=settings.timeout_seconds,
        retries=settings.retries,
        batch_size=settings.batch_size,
        throttle_wait_seconds=settings.throttle_wait_seconds,
        request_limit_seconds=settings.request_limit_seconds,
        default_income_account_id=settings.default_income_account_id,
        orders_per_run=settings.orders_per_run,
        company_timezone=settings.company_timezone,
        key_dir=str(settings.resolved_data_dir),
    )

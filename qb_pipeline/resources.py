"""Dagster resources: the project database and the QuickBooks connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.orm import Session

from qb_pipeline import config
from qb_pipeline.core import defaults
from qb_pipeline.db.api_calls import ReadMeter, add_calls, read_meter
from qb_pipeline.db.session import engine_for, redact_url, session_scope
from qb_pipeline.db.token_cipher import TokenCipher, load_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.cdc import ChangeFeed
from qb_pipeline.quickbooks.connection import Connection
from qb_pipeline.quickbooks.factory import connect, intuit_settings, sandbox_settings
from qb_pipeline.quickbooks.gateway import QuickBooksGateway
from qb_pipeline.quickbooks.stats import CallStats
from qb_pipeline.quickbooks.throttle import Throttle
from qb_pipeline.settings import SPECS, Settings

_UNSET = Settings()  # every setting at its default (qb_pipeline/core/defaults.py)


def _setting(name: str, meaning: str) -> Any:
    """A field standing for one setting: its default, and what the Dagster UI says of it, the variable
    first (pydantic's Field, as Dagster's own integrations declare theirs). "" stands for unset."""
    default = getattr(_UNSET, name)
    return Field(default="" if default is None else default, description=f"{SPECS[name].variable}: {meaning}")


class DatabaseResource(dg.ConfigurableResource):
    """The project database: SQLite by default, PostgreSQL in production (QB_DATABASE_URL), with the
    settings of what it keeps: the activity log's retention, how long an order may wait before the
    orders_not_waiting check says so, and the folder pricing CSV files are dropped in."""

    url: str = Field(
        description="QB_DATABASE_URL: a SQLite or PostgreSQL URL; unset, the SQLite file under QB_DATA_DIR. "
        "Given as an environment variable when it may hold a password."
    )
    log_retention_days: int = _setting("log_retention_days", "activity-log rows older than this are pruned.")
    pending_alert_minutes: float = _setting(
        "pending_alert_minutes", "the orders_not_waiting check fails when an order waits longer."
    )
    pricing_drop_dir: str = _setting("pricing_drop_dir", "the folder of pricing CSV files price_levels imports.")
    pricing_settle_seconds: float = _setting("pricing_settle_seconds", "a dropped file unchanged this long is taken.")

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
    environment: str = _setting("environment", "sandbox-local (the bundled sandbox), sandbox (Intuit's) or production.")
    client_id: str = _setting("client_id", "your Intuit app's client id.")
    client_secret: str = _setting("client_secret", "your Intuit app's client secret.")
    realm_id: str = _setting("realm_id", "the QuickBooks company id.")
    redirect_uri: str = _setting("redirect_uri", "the OAuth redirect URI registered with your Intuit app.")
    sandbox_connection_file: str = _setting(
        "sandbox_connection_file", "the bundled sandbox's connection details; unset, the one under the data folder."
    )
    token_key: str = _setting(
        "token_key", "the key that encrypts the OAuth tokens; unset, the bundled sandbox's generated key file."
    )
    timeout_seconds: float = _setting("timeout_seconds", "the timeout of every HTTP call.")
    retries: int = _setting("retries", "retries for 429, 5xx, timeouts and dropped connections.")
    batch_size: int = _setting(
        "batch_size", f"records per batch call (QuickBooks' maximum: {defaults.QBO_BATCH_LIMIT})."
    )
    throttle_wait_seconds: float = _setting(
        "throttle_wait_seconds", "the wait after a 429 that carries no Retry-After."
    )
    request_limit_seconds: float = _setting(
        "request_limit_seconds",
        "how long a request we stopped waiting for still holds one of QuickBooks' 10 slots, and an invoice "
        "batch whose outcome is unknown waits before it is looked up.",
    )
    default_income_account_id: str = _setting(
        "default_income_account_id", "the income account of new Service items; unset, the first Income account."
    )
    orders_per_run: int = _setting("orders_per_run", "at most this many due orders are claimed by one run.")
    company_timezone: str = _setting(
        "company_timezone",
        "the company's IANA time zone; unset, Pacific time, checked against the offsets QuickBooks writes.",
    )
    monthly_read_budget: int = _setting(
        "monthly_read_budget", "QuickBooks reads a month Intuit allows your app (the Builder tier: 500,000)."
    )
    read_budget_warn_share: float = _setting(
        "read_budget_warn_share", "the share of the monthly read budget at which sync_health's check fails."
    )
    key_dir: str = Field(default="", description="QB_DATA_DIR: where the bundled sandbox's generated token key lives.")

    _connection: Connection | None = PrivateAttr(default=None)
    _throttle: Throttle | None = PrivateAttr(default=None)
    _change_feed: ChangeFeed | None = PrivateAttr(default=None)
    _counted: list[CallStats] = PrivateAttr(default_factory=list)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._connection = self._throttle = None  # both made by the run's first gateway()
        self._change_feed = ChangeFeed()  # one CDC call for the entities the run pulls (quickbooks/cdc.py)
        self._counted = []

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for stats in self._counted:  # what no asset recorded: checks, and assets that failed
            self.record_calls(stats)
        self._connection = self._throttle = self._change_feed = None
        self._counted = []

    def record_calls(self, stats: CallStats) -> None:
        """Adds the calls `stats` counted and nobody recorded yet to the company's daily counts."""
        reads, writes = stats.take_unrecorded()
        if (reads or writes) and self._connection is not None:
            with self.database.session() as session:
                add_calls(session, self._connection.realm_id, utcnow().date(), reads=reads, writes=writes)

    def read_meter(self) -> ReadMeter:
        """This month's reads of every company: Intuit meters them per app, so the budget is the app's."""
        with self.database.session() as session:
            return read_meter(
                session, utcnow(), budget=self.monthly_read_budget, warn_share=self.read_budget_warn_share
            )

    def gateway(self, progress: Callable[[str], None] = lambda _m: None) -> QuickBooksGateway:
        """A gateway for one asset or check on the run's connection and throttle. Raises a
        QuickBooksError (SandboxNotRunning included) when the company cannot be reached."""
        if self._connection is None:
            self._connection = self._connect()
        if self._throttle is None:
            self._throttle = Throttle(abandoned_hold_seconds=self.request_limit_seconds)
        stats = CallStats()
        self._counted.append(stats)
        return QuickBooksGateway(
            self._connection,
            retries=self.retries,
            batch_size=self.batch_size,
            throttle_wait=self.throttle_wait_seconds,
            throttle=self._throttle,
            stats=stats,
            progress=progress,
            company_timezone=self.company_timezone,
            change_feed=self._change_feed,
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
        monthly_read_budget=settings.monthly_read_budget,
        read_budget_warn_share=settings.read_budget_warn_share,
        key_dir=str(settings.resolved_data_dir),
    )

"""Dagster resources: the project database and the QuickBooks connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr
from sqlalchemy.orm import Session

from qb_pipeline import config
from qb_pipeline.core import defaults
from qb_pipeline.core.errors import SandboxNotRunning
from qb_pipeline.db.api_calls import ReadMeter, add_calls, read_meter
from qb_pipeline.db.session import engine_for, redact_url, session_scope
from qb_pipeline.db.token_cipher import TokenCipher, load_key
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.cdc import ChangeFeed
from qb_pipeline.quickbooks.connection import Connection
from qb_pipeline.quickbooks.factory import connect, intuit_settings, sandbox_realm, sandbox_settings
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


@dataclass
class _Company:
    """What a run keeps of one company: QuickBooks' limits are per company, so each has its own."""

    connection: Connection
    throttle: Throttle
    change_feed: ChangeFeed


class QuickBooksResource(dg.ConfigurableResource):
    """The QuickBooks Online companies of one Intuit app: the bundled sandbox (sandbox-local), Intuit's
    sandbox, or production.

    A run's assets and checks share, per company, one connection (its tokens), one throttle and one change
    feed, built when first needed — so a check can report a sandbox that is not running instead of failing
    the run's start — and dropped when the run ends. Each asset gets a gateway of its own, counting its own
    calls, recorded under its company.
    """

    database: DatabaseResource
    environment: str = _setting("environment", "sandbox-local (the bundled sandbox), sandbox (Intuit's) or production.")
    client_id: str = _setting("client_id", "your Intuit app's client id.")
    client_secret: str = _setting("client_secret", "your Intuit app's client secret.")
    realm_id: str = _setting(
        "realm_id", "the default QuickBooks company id (each run's company is its partition, `companies`)."
    )
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

    _companies: dict[str, _Company] = PrivateAttr(default_factory=dict)
    _counted: list[tuple[str, CallStats]] = PrivateAttr(default_factory=list)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._companies = {}  # each company's made by the run's first gateway() for it
        self._counted = []

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for realm_id, stats in self._counted:  # what no asset recorded: checks, and assets that failed
            self._record(realm_id, stats)
        self._companies, self._counted = {}, []

    def default_realm(self) -> str:
        """The company of a single-company deployment: QB_REALM_ID, or the bundled sandbox's first company."""
        if self.realm_id or self.environment != "sandbox-local":
            return self.realm_id
        try:
            return sandbox_realm(Path(self.sandbox_connection_file or config.sandbox_connection_file()))
        except SandboxNotRunning:  # not started yet: the company it always serves first (a run then says why)
            from qb_pipeline.sandbox.server import DEFAULT_REALM

            return DEFAULT_REALM

    def record_calls(self, stats: CallStats) -> None:
        """Adds the calls `stats` counted and nobody recorded yet to its company's daily counts."""
        realm_id = next((realm for realm, counted in self._counted if counted is stats), None)
        if realm_id is not None:
            self._record(realm_id, stats)

    def _record(self, realm_id: str, stats: CallStats) -> None:
        reads, writes = stats.take_unrecorded()
        if reads or writes:
            with self.database.session() as session:
                add_calls(session, realm_id, utcnow().date(), reads=reads, writes=writes)

    def read_meter(self) -> ReadMeter:
        """This month's reads of every company: Intuit meters them per app, so the budget is the app's."""
        with self.database.session() as session:
            return read_meter(
                session, utcnow(), budget=self.monthly_read_budget, warn_share=self.read_budget_warn_share
            )

    def gateway(self, realm_id: str = "", progress: Callable[[str], None] = lambda _m: None) -> QuickBooksGateway:
        """A gateway for one asset or check of company `realm_id` (an asset passes its partition key; ""
        is the default company) on the run's connection, throttle and change feed of that company: its
        limits are its own, so one company's 429s never slow another's calls. Raises a QuickBooksError
        (SandboxNotRunning included) when the company cannot be reached."""
        realm_id = realm_id or self.default_realm()
        company = self._companies.get(realm_id)
        if company is None:
            company = _Company(
                self._connect(realm_id),
                Throttle(abandoned_hold_seconds=self.request_limit_seconds),
                ChangeFeed(),  # one CDC call for the entities the run pulls (quickbooks/cdc.py)
            )
            self._companies[realm_id] = company
        stats = CallStats()
        self._counted.append((realm_id, stats))
        return QuickBooksGateway(
            company.connection,
            retries=self.retries,
            batch_size=self.batch_size,
            throttle_wait=self.throttle_wait_seconds,
            throttle=company.throttle,
            stats=stats,
            progress=progress,
            company_timezone=self.company_timezone,
            change_feed=company.change_feed,
        )

    def _connect(self, realm_id: str) -> Connection:
        """A connection to company `realm_id`, its tokens in the project database (qb_tokens)."""
        key_dir = Path(self.key_dir) if self.key_dir else config.data_dir()
        cipher = TokenCipher(load_key(self.token_key or None, key_dir, self.environment))
        bootstrap = None
        if self.environment == "sandbox-local":
            settings, bootstrap = sandbox_settings(
                Path(self.sandbox_connection_file or config.sandbox_connection_file()),
                self.timeout_seconds,
                realm_id=realm_id,
            )
        else:
            settings = intuit_settings(
                client_id=self.client_id,
                client_secret=self.client_secret,
                realm_id=realm_id,
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

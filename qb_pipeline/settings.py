"""Every setting, checked in one place: environment variables → one typed, validated `Settings`.

A bad value stops whatever is starting — `make dev`, a CLI command, the Dagster code location — with
one line naming the variable and the values it allows, before anything runs. Every variable is
listed in the README.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

from qb_pipeline.core import defaults
from qb_pipeline.core.company_zone import iana_zone
from qb_pipeline.db.session import SUPPORTED_DATABASES, shown_url, supported_url

Environment = Literal["sandbox-local", "sandbox", "production"]
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """One line: the variable, the value given, and what it allows."""


def _flag(text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError


def _number(kind: type, low: float | None = None, high: float | None = None) -> Callable[[str], Any]:
    def parse(text: str):
        value = kind(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError
        return value

    return parse


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError
        return text

    return parse


def _hidden(_text: str) -> str:
    return "<hidden>"


@dataclass(frozen=True)
class Spec:
    variable: str
    parse: Callable[[str], Any]
    allows: str  # what to tell a person who got it wrong
    shown: Callable[[str], str] = repr  # how a wrong value is shown: never a secret


# field name → how its variable is read; a field absent from the environment keeps its default.
SPECS = {
    "data_dir": Spec("QB_DATA_DIR", Path, "a folder"),
    "database_url": Spec("QB_DATABASE_URL", supported_url, f"a URL of {SUPPORTED_DATABASES}", shown_url),
    "environment": Spec("QB_ENVIRONMENT", _choice(*ENVIRONMENTS), " or ".join(ENVIRONMENTS)),
    "sandbox_connection_file": Spec("QB_SANDBOX_CONNECTION_FILE", Path, "a file"),
    "sandbox_port": Spec("QB_SANDBOX_PORT", _number(int, 1, 65535), "a port number, 1 to 65535"),
    "client_id": Spec("QB_CLIENT_ID", str, "your Intuit app's client id"),
    "client_secret": Spec("QB_CLIENT_SECRET", str, "your Intuit app's client secret", _hidden),
    "realm_id": Spec("QB_REALM_ID", str, "the QuickBooks company id"),
    "redirect_uri": Spec("QB_REDIRECT_URI", str, "a URL"),
    "token_key": Spec("QB_TOKEN_KEY", str, "a key from `qb-pipeline auth new-key`", _hidden),
    "timeout_seconds": Spec("QB_TIMEOUT_SECONDS", _number(float, 0.1, 600), "seconds, 0.1 to 600"),
    "retries": Spec("QB_RETRIES", _number(int, 0, 10), "a whole number from 0 to 10"),
    "batch_size": Spec(
        "QB_BATCH_SIZE",
        _number(int, 1, defaults.QBO_BATCH_LIMIT),
        f"a whole number from 1 to {defaults.QBO_BATCH_LIMIT}",
    ),
    "throttle_wait_seconds": Spec("QB_THROTTLE_WAIT_SECONDS", _number(float, 0, 600), "seconds, 0 to 600"),
    "request_limit_seconds": Spec("QB_REQUEST_LIMIT_SECONDS", _number(float, 0, 600), "seconds, 0 to 600"),
    "company_timezone": Spec(
        "QB_COMPANY_TIMEZONE", lambda name: iana_zone(name).key, "an IANA time zone name, e.g. America/New_York"
    ),
    "default_income_account_id": Spec("QB_DEFAULT_INCOME_ACCOUNT_ID", str, "a QuickBooks account id"),
    "sync_frequency_hours": Spec("QB_SYNC_FREQUENCY_HOURS", _number(int, 1, 24), "a whole number from 1 to 24"),
    "auto_sync_customers": Spec("QB_AUTO_SYNC_CUSTOMERS", _flag, "true or false"),
    "auto_sync_items": Spec("QB_AUTO_SYNC_ITEMS", _flag, "true or false"),
    "auto_sync_pricing": Spec("QB_AUTO_SYNC_PRICING", _flag, "true or false"),
    "auto_sync_orders": Spec("QB_AUTO_SYNC_ORDERS", _flag, "true or false"),
    "pull_on_webhooks_only": Spec("QB_PULL_ON_WEBHOOKS_ONLY", _flag, "true or false"),
    "sensor_interval_seconds": Spec(
        "QB_SENSOR_INTERVAL_SECONDS", _number(int, 1, 3600), "a whole number of seconds from 1 to 3600"
    ),
    "log_retention_days": Spec("QB_LOG_RETENTION_DAYS", _number(int, 1, 3650), "a whole number of days, 1 to 3650"),
    "pending_alert_minutes": Spec("QB_PENDING_ALERT_MINUTES", _number(float, 1, 10080), "minutes, 1 to 10080"),
    "orders_per_run": Spec("QB_ORDERS_PER_RUN", _number(int, 1, 100_000), "a whole number from 1 to 100000"),
    "monthly_read_budget": Spec(
        "QB_MONTHLY_READ_BUDGET", _number(int, 0, 10**12), "a whole number of reads a month (0: no budget)"
    ),
    "read_budget_warn_share": Spec("QB_READ_BUDGET_WARN_SHARE", _number(float, 0.01, 1), "a share from 0.01 to 1"),
    "pricing_drop_dir": Spec("QB_PRICING_DROP_DIR", Path, "a folder"),
    "pricing_settle_seconds": Spec("QB_PRICING_SETTLE_SECONDS", _number(float, 0, 3600), "seconds, 0 to 3600"),
    "demo_orders_per_minute": Spec("QB_DEMO_ORDERS_PER_MINUTE", _number(float, 0, 600), "a number from 0 to 600"),
    "dagster_home": Spec("DAGSTER_HOME", Path, "a folder"),
    "webhook_verifier_token": Spec(
        "QB_WEBHOOK_VERIFIER_TOKEN", str, "your Intuit app's webhook verifier token", _hidden
    ),
    "webhook_port": Spec("QB_WEBHOOK_PORT", _number(int, 1, 65535), "a port number, 1 to 65535"),
    "dagster_url": Spec("QB_DAGSTER_URL", str, "the Dagster UI's address, e.g. http://127.0.0.1:3000"),
    "max_runtime_seconds": Spec(
        "QB_MAX_RUNTIME_SECONDS", _number(int, 10, 7 * 86400), "a whole number of seconds from 10 to 604800"
    ),
}


@dataclass(frozen=True)
class Settings:
    """Each default is qb_pipeline/core/defaults.py's."""

    data_dir: Path = Path(defaults.DATA_DIR)
    database_url: str | None = None  # unset: the SQLite file under the data folder
    environment: Environment = defaults.ENVIRONMENT
    sandbox_connection_file: Path | None = None  # unset: the one under the data folder
    sandbox_port: int = defaults.SANDBOX_PORT
    client_id: str = ""
    client_secret: str = ""
    realm_id: str = ""
    redirect_uri: str = defaults.REDIRECT_URI
    token_key: str = ""
    timeout_seconds: float = defaults.TIMEOUT_SECONDS
    retries: int = defaults.RETRIES
    batch_size: int = defaults.BATCH_SIZE
    throttle_wait_seconds: float = defaults.THROTTLE_WAIT_SECONDS
    request_limit_seconds: float = defaults.REQUEST_LIMIT_SECONDS
    company_timezone: str = ""  # empty: America/Los_Angeles, checked against the offsets QuickBooks writes
    default_income_account_id: str = ""
    sync_frequency_hours: int = defaults.SYNC_FREQUENCY_HOURS
    auto_sync_customers: bool = defaults.AUTO_SYNC
    auto_sync_items: bool = defaults.AUTO_SYNC
    auto_sync_pricing: bool = defaults.AUTO_SYNC
    auto_sync_orders: bool = defaults.AUTO_SYNC
    # true: the hourly sync pushes but reads nothing; webhooks and the daily catch-up bring QuickBooks' changes
    pull_on_webhooks_only: bool = False
    sensor_interval_seconds: int = defaults.SENSOR_INTERVAL_SECONDS
    log_retention_days: int = defaults.LOG_RETENTION_DAYS
    pending_alert_minutes: float = defaults.PENDING_ALERT_MINUTES
    orders_per_run: int = defaults.ORDERS_PER_RUN
    monthly_read_budget: int = defaults.MONTHLY_READ_BUDGET
    read_budget_warn_share: float = defaults.READ_BUDGET_WARN_SHARE
    pricing_drop_dir: Path | None = None
    pricing_settle_seconds: float = defaults.SETTLE_SECONDS
    demo_orders_per_minute: float = defaults.DEMO_ORDERS_PER_MINUTE
    max_runtime_seconds: int = defaults.MAX_RUNTIME_SECONDS
    dagster_home: Path | None = None  # unset: the folder `make dev` uses (.dagster_home), where it exists
    webhook_verifier_token: str = ""  # unset with sandbox-local: the sandbox's, from its connection file
    webhook_port: int = defaults.WEBHOOK_PORT
    dagster_url: str = defaults.DAGSTER_URL  # where `qb-pipeline sync` launches runs

    def __repr__(self) -> str:  # the secrets never reach a log line through a repr
        return f"Settings(environment={self.environment!r}, data_dir={str(self.data_dir)!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, spec in SPECS.items():
            raw = environ.get(spec.variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = spec.parse(raw.strip())
            except (ValueError, TypeError):
                raise SettingsError(f"{spec.variable}={spec.shown(raw)} is not allowed: use {spec.allows}") from None
        return cls(**values)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def resolved_database_url(self) -> str:
        """QB_DATABASE_URL, else the SQLite file under the data folder."""
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'qb_pipeline.sqlite'}"

    def auto_sync(self, kind: str) -> bool:
        return getattr(self, f"auto_sync_{kind}")


assert set(SPECS) == {f.name for f in fields(Settings)}, "every setting has its variable, and only one"

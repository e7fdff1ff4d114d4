"""Environment → settings, read in one place. Every variable is listed in the README."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = ".data"


def data_dir() -> Path:
    """Where the embedded default keeps its state (project database, sandbox, token key)."""
    return Path(os.environ.get("QB_DATA_DIR", DEFAULT_DATA_DIR)).resolve()


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'qb_pipeline.sqlite'}"


def database_url() -> str:
    """QB_DATABASE_URL, else the SQLite file under the data folder."""
    return os.environ.get("QB_DATABASE_URL") or default_database_url()


def env_flag(name: str, default: bool = True) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    normalized = value.strip().lower()
    if normalized in ("1", "true", "yes", "on"):
        return True
    if normalized in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false (got {value!r})")


def quickbooks_environment() -> str:
    """sandbox-local (the bundled sandbox), sandbox (Intuit's) or production."""
    return os.environ.get("QB_ENVIRONMENT", "sandbox-local")


def sandbox_connection_file() -> Path:
    return Path(os.environ.get("QB_SANDBOX_CONNECTION_FILE") or data_dir() / "sandbox" / "connection.json")


def pricing_drop_dir() -> Path | None:
    """QB_PRICING_DROP_DIR: a folder the price_levels asset imports pricing CSV files from."""
    value = os.environ.get("QB_PRICING_DROP_DIR")
    return Path(value) if value else None


def sync_frequency_hours() -> int:
    hours = int(os.environ.get("QB_SYNC_FREQUENCY_HOURS", "1"))
    if not 1 <= hours <= 24:
        raise ValueError(f"QB_SYNC_FREQUENCY_HOURS must be between 1 and 24 (got {hours})")
    return hours


def auto_sync(kind: str) -> bool:
    """QB_AUTO_SYNC_CUSTOMERS / ITEMS / ORDERS / PRICING (default on)."""
    return env_flag(f"QB_AUTO_SYNC_{kind.upper()}", True)


def log_retention_days() -> int:
    return int(os.environ.get("QB_LOG_RETENTION_DAYS", "30"))


def sensor_interval_seconds() -> int:
    return int(os.environ.get("QB_SENSOR_INTERVAL_SECONDS", "2"))


def realm_tag() -> str:
    """The run tag value that serializes pushes per QuickBooks company (dagster.yaml)."""
    return os.environ.get("QB_REALM_ID") or quickbooks_environment()


def max_runtime_seconds() -> int:
    """QB_MAX_RUNTIME_SECONDS: a QuickBooks run still going after this long is failed by Dagster's run
    monitoring (its claimed orders go back to pending, and the company's run slot frees)."""
    seconds = int(os.environ.get("QB_MAX_RUNTIME_SECONDS", "3600"))
    if seconds < 1:
        raise ValueError(f"QB_MAX_RUNTIME_SECONDS must be a positive number of seconds (got {seconds})")
    return seconds

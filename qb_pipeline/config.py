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

"""The settings the code reads, from the one validated `Settings` (qb_pipeline/settings.py).

Each function reads the environment as it is now (tests and `make dev` set variables before they
call), through `Settings.from_env`, so a bad value is refused the same way wherever it is read.
"""

from __future__ import annotations

from pathlib import Path

from qb_pipeline.settings import Settings, SettingsError  # noqa: F401  (SettingsError: re-exported)


def settings() -> Settings:
    return Settings.from_env()


def data_dir() -> Path:
    """Where the embedded default keeps its state (project database, sandbox, token key)."""
    return settings().resolved_data_dir


def database_url() -> str:
    """QB_DATABASE_URL, else the SQLite file under the data folder."""
    return settings().resolved_database_url


def quickbooks_environment() -> str:
    """sandbox-local (the bundled sandbox), sandbox (Intuit's) or production."""
    return settings().environment


def sandbox_connection_file(current: Settings | None = None) -> Path:
    current = current or settings()
    return current.sandbox_connection_file or current.resolved_data_dir / "sandbox" / "connection.json"


def sync_frequency_hours() -> int:
    return settings().sync_frequency_hours


def auto_sync(kind: str) -> bool:
    """QB_AUTO_SYNC_CUSTOMERS / ITEMS / ORDERS / PRICING (default on)."""
    return settings().auto_sync(kind)


def sensor_interval_seconds() -> int:
    return settings().sensor_interval_seconds


def realm_tag(current: Settings) -> str:
    """The run tag value that serializes pushes per QuickBooks company (dagster.yaml): the company id
    (the bundled sandbox's is in its connection file)."""
    if current.realm_id:
        return current.realm_id
    if current.environment == "sandbox-local":
        try:
            import json

            return str(json.loads(sandbox_connection_file(current).read_text())["realm_id"])
        except (OSError, ValueError, KeyError):
            pass
    return current.environment

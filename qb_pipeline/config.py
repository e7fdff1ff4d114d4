"""The settings the code reads, from the one validated `Settings` (qb_pipeline/settings.py).

Each function reads the environment as it is now (tests and `make dev` set variables before they
call), through `Settings.from_env`, so a bad value is refused the same way wherever it is read.
"""

from __future__ import annotations

import json
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


# The per-company run tag when no company id can be known (QB_REALM_ID unset outside the bundled sandbox):
# pushes still run one at a time, under a value that says why it is not a company id.
NO_COMPANY_REALM_TAG = "no-company-configured"


def realm_tag(current: Settings) -> str:
    """The default company's id: the realm tag (dagster.yaml: one run per company at a time) of a run that
    names no company, and the company `qb-pipeline sync` runs for; each scheduled or sensed run carries its
    own company's (partitions.company_run). QB_REALM_ID when set; for the bundled sandbox, the company in its connection file, else the one it
    always serves (the file is rewritten at each start, and may not exist yet when the definitions load)."""
    if current.realm_id:
        return current.realm_id
    if current.environment == "sandbox-local":
        try:
            return str(json.loads(sandbox_connection_file(current).read_text())["realm_id"])
        except (OSError, ValueError, KeyError, TypeError):
            from qb_pipeline.sandbox.server import DEFAULT_REALM  # the sandbox's only company

            return DEFAULT_REALM
    return NO_COMPANY_REALM_TAG

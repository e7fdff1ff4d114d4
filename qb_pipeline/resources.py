"""Dagster resources: the project database (and, from the QuickBooks issue on, QuickBooks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline import config
from qb_pipeline.db.session import engine_for, redact_url, session_scope


class DatabaseResource(dg.ConfigurableResource):
    """The project database: SQLite by default, PostgreSQL in production (QB_DATABASE_URL)."""

    url: str

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


def database_resource() -> DatabaseResource:
    """From QB_DATABASE_URL when set (as an EnvVar, so the UI never shows the value), else SQLite."""
    if os.environ.get("QB_DATABASE_URL"):
        return DatabaseResource(url=dg.EnvVar("QB_DATABASE_URL"))
    return DatabaseResource(url=config.default_database_url())

"""What the subcommands share: the database and the error style (one clear line, exit code 1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import sqlalchemy as sa
from click import ClickException

from qb_pipeline import config
from qb_pipeline.core import defaults
from qb_pipeline.db.migrate import current_revision, head_revision, upgrade
from qb_pipeline.db.session import engine_for, redact_url
from qb_pipeline.db.token_cipher import create_key_file, key_file_needed
from qb_pipeline.settings import Settings


def database() -> sa.Engine:
    """The project database, refusing politely when it is not there (DatabaseMissing, one line), or its
    schema is missing or old."""
    url = config.database_url()
    engine = engine_for(url)
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError:
        raise ClickException(f"cannot open the database {redact_url(url)}: check QB_DATABASE_URL") from None
    if current is None:
        raise ClickException(f"the database {redact_url(url)} has no tables: make them with `qb-pipeline db upgrade`")
    if current != head_revision():
        raise ClickException(f"the database {redact_url(url)} is not up to date: run `qb-pipeline db upgrade`")
    return engine


def make_database(current: Settings, revision: str = "head") -> str:
    """What only `qb-pipeline db upgrade` and make dev do: create or upgrade the database, and make the
    embedded default's token key beside it. Returns the database URL."""
    url = current.resolved_database_url
    upgrade(url, revision)
    if key_file_needed(current.token_key, current.environment):
        create_key_file(current.resolved_data_dir)
    return url


MAKE_DEV_DAGSTER_HOME = Path(defaults.DAGSTER_HOME)  # what `qb-pipeline dev` (make dev) uses by default


def dagster_home() -> Path | None:
    """DAGSTER_HOME, else the one the last make dev with this data folder used, else the folder make dev uses
    by default: when it has been set up."""
    from qb_pipeline.stack_record import read_record

    current = config.settings()
    record = None if current.dagster_home else read_record(current.resolved_data_dir)
    home = current.dagster_home or (record and record.dagster_home) or MAKE_DEV_DAGSTER_HOME
    return home.resolve() if (home / "dagster.yaml").exists() else None


@contextmanager
def dagster_instance() -> Iterator[object | None]:
    """The Dagster instance make dev (or your deployment) runs, or None when there is none here."""
    home = dagster_home()
    if home is None:
        yield None
        return
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def parse_since(text: str, now: datetime) -> datetime:
    """An age (30m, 2h, 7d) or an ISO date-time (UTC when it has no offset)."""
    match = re.fullmatch(r"(\d+)\s*([mhd])", text.strip())
    if match:
        amount, unit = int(match[1]), match[2]
        return now - {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use 30m, 2h, 7d or an ISO date-time", param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

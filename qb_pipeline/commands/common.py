"""What the subcommands share: the database and the error style (one clear line, exit code 1)."""

from __future__ import annotations

import sqlalchemy as sa
from click import ClickException

from qb_pipeline import config
from qb_pipeline.db.migrate import current_revision, head_revision
from qb_pipeline.db.session import engine_for, redact_url


def database() -> sa.Engine:
    """The project database, refusing politely when its schema is missing or old."""
    url = config.database_url()
    engine = engine_for(url)
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError:
        raise ClickException(f"cannot open the database {redact_url(url)}: check QB_DATABASE_URL") from None
    if current != head_revision():
        raise ClickException(f"the database {redact_url(url)} is not up to date: run `qb-pipeline db upgrade`")
    return engine

"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from qb_pipeline.db.migrate import current_revision, head_revision, upgrade
from qb_pipeline.db.models import Base
from qb_pipeline.db.session import make_engine


def test_upgrade_head_matches_models(empty_database_url):
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            drift = compare_metadata(context, Base.metadata)
        assert drift == [], f"models and migrations disagree: {drift}"
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(empty_database_url):
    upgrade(empty_database_url)
    upgrade(empty_database_url)  # a second `make dev` must not fail
    engine = make_engine(empty_database_url)
    try:
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()

"""Alembic environment: migrates the URL given by qb_pipeline.db.migrate (never read from a file)."""

from alembic import context

from qb_pipeline.db.models import Base
from qb_pipeline.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode copies a table to change a column; dropping the old copy of a table that other rows
        # refer to fails while foreign keys are enforced. SQLite's own procedure for such a change: turn
        # them off outside any transaction (on the driver's connection: SQLAlchemy would BEGIN first),
        # change, check them all, turn them on again.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        _migrate(connection)
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if sqlite else []
        if broken:
            raise RuntimeError(f"after the upgrade, rows refer to rows that are not there: {broken[:5]}")
    finally:
        if sqlite:
            connection.rollback()  # ends the check's read transaction
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE needs batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()

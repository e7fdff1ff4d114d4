"""Deleting one company's rows (`companies disconnect --delete-data`) is generic: read from the models, so a
table keyed by company later, and the tables hanging off it by a foreign key, are covered without a change.
Counted by plain SQL on a real database (SQLite, and PostgreSQL when the tests have one)."""

from __future__ import annotations

import sqlalchemy as sa

from qb_pipeline.db.companies import delete_company_rows
from qb_pipeline.db.session import make_engine, session_scope


def _schema() -> sa.MetaData:
    """A company-keyed parent (as orders will be), its lines (no realm_id), their notes, and a table of no company."""
    metadata = sa.MetaData()
    sa.Table("parents", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("realm_id", sa.String(32)))
    sa.Table(
        "lines",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey("parents.id"), nullable=False),
    )
    sa.Table(
        "notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("line_id", sa.ForeignKey("lines.id"), nullable=False),
    )
    sa.Table("settings", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def test_a_companys_rows_go_with_the_rows_that_hang_off_them_and_no_others(empty_database_url):
    metadata = _schema()
    engine = make_engine(empty_database_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO parents VALUES (1, 'A'), (2, 'B')"))
            connection.execute(sa.text("INSERT INTO lines VALUES (10, 1), (11, 1), (20, 2)"))
            connection.execute(sa.text("INSERT INTO notes VALUES (100, 10), (200, 20)"))
            connection.execute(sa.text("INSERT INTO settings VALUES (1)"))
        with session_scope(engine) as session:  # foreign keys are enforced: children must go first
            deleted = delete_company_rows(session, "A", metadata)
        assert deleted == {"parents": 1, "lines": 2, "notes": 1}
        with engine.connect() as connection:
            left = {
                table: sorted(connection.execute(sa.text(f"SELECT id FROM {table}")).scalars())
                for table in ("parents", "lines", "notes", "settings")
            }
        assert left == {"parents": [2], "lines": [20], "notes": [200], "settings": [1]}
    finally:
        engine.dispose()

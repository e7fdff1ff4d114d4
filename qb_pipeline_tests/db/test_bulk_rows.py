"""Staged rows sent with COPY (PostgreSQL): a database error in it is said as for any statement, so the drop
folder still tells a passing error (keep the file for the next run) from the file's own (reject it)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from qb_pipeline.db.bulk_rows import insert_rows
from qb_pipeline.db.pricing_imports import PricingImportRow
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.pricing_drop import is_the_files_fault, short_reason

STAGED = PricingImportRow.__table__
COLUMNS = ["import_id", "target", "created_at"]
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_a_copy_held_up_by_a_lock_is_a_passing_error_not_the_files(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's; SQLite's rows go through an ordinary statement")
    with engine.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE pricing_import_rows IN ACCESS EXCLUSIVE MODE")  # held until rollback
        with pytest.raises(sa.exc.OperationalError) as raised, session_scope(engine) as session:
            session.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            insert_rows(session, STAGED, COLUMNS, [("a" * 32, "customer_item_prices", NOW)])
        holder.rollback()
    assert not is_the_files_fault(raised.value)
    assert short_reason(raised.value).startswith("LockNotAvailable: canceling statement due to lock timeout")
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(STAGED)) == 0

"""Instants are stored as UTC and read back aware; naive datetimes are refused."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import SyncCursor
from qb_pipeline.db.session import redact_url, session_scope


def test_instant_round_trips_as_aware_utc(engine):
    pacific = timezone(timedelta(hours=-8))
    with session_scope(engine) as session:
        session.add(
            SyncCursor(realm_id="1", entity="Customer", covered_until=datetime(2026, 11, 1, 2, 0, tzinfo=pacific))
        )
    with session_scope(engine) as session:
        stored = session.scalars(sa.select(SyncCursor.covered_until)).one()
    assert stored == datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
    assert stored.utcoffset() == timedelta(0)


def test_naive_datetime_is_refused(engine):
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with session_scope(engine) as session:
            session.add(SyncCursor(realm_id="1", entity="Item", covered_until=datetime(2026, 11, 1)))


def test_redacted_url_hides_password():
    shown = redact_url("postgresql://app:s3cr%40t@db.internal:5432/qb")
    assert "s3cr" not in shown and "***" in shown and "postgresql+psycopg2" in shown

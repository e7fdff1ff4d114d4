"""The bulk upsert of rows mirrored from QuickBooks, on each database: values exactly as sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db import mirror_rows
from qb_pipeline.db.models import Customer, SyncState
from qb_pipeline.db.session import session_scope

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
REALM = "4620816365000000001"  # rows are mirrored per company: keyed by (realm_id, qb_id)


def test_upsert_inserts_then_updates_by_qb_id_and_keeps_local_columns(engine):
    rows = [
        {
            "realm_id": REALM,
            "qb_id": str(i),
            "display_name": f"Customer {i}",
            "qb_sync_token": "0",
            "balance": Decimal("10.05"),
        }
        for i in range(1, 1201)  # more than one chunk
    ]
    with session_scope(engine) as session:
        assert mirror_rows.upsert_by_qb_id(session, Customer, rows) == 1200
        session.execute(sa.update(Customer).where(Customer.qb_id == "7").values(last_error="kept"))
    changed = [
        {"realm_id": REALM, "qb_id": "7", "display_name": "Renamed", "qb_sync_token": "1", "balance": Decimal("0.10")}
    ]
    with session_scope(engine) as session:
        mirror_rows.upsert_by_qb_id(session, Customer, changed)
    with session_scope(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1200
        row = session.scalars(sa.select(Customer).where(Customer.qb_id == "7")).one()
        assert (row.display_name, row.qb_sync_token, row.last_error) == ("Renamed", "1", "kept")
        assert row.balance == Decimal("0.10") and isinstance(row.balance, Decimal)
        assert row.updated_at.tzinfo is not None


def test_upsert_keeps_every_value_exactly_whatever_its_text(engine):
    """PostgreSQL's upsert sends each column as one text array: quotes, backslashes, braces, commas,
    NULL-looking text, None, money, enums, booleans and instants must all come back as they went in."""
    names = ['He said "hi"', "back\\slash", "{braces}", "a,b", "NULL", "", "Ünïcödé ✓", "new\nline", "tab\tend"]
    rows = [
        {
            "realm_id": REALM,
            "qb_id": str(n),
            "display_name": name,
            "company_name": None if n % 2 else name,
            "balance": Decimal("1234567.89") if n % 3 else None,
            "active": n % 2 == 0,
            "sync_state": SyncState.SYNCED if n % 2 else SyncState.FAILED,
            "qb_updated_at": NOW - timedelta(microseconds=n),
        }
        for n, name in enumerate(names)
    ]
    rows.append({**rows[0], "display_name": "the last row of a key wins"})
    with session_scope(engine) as session:
        mirror_rows.upsert_by_qb_id(session, Customer, rows)
    with session_scope(engine) as session:
        stored = {c.qb_id: c for c in session.scalars(sa.select(Customer))}
    expected = {row["qb_id"]: row for row in rows}
    assert set(stored) == set(expected)
    for qb_id, row in expected.items():
        assert {key: getattr(stored[qb_id], key) for key in row} == row


@pytest.mark.parametrize("count", [1, 3])
def test_upsert_keeps_a_value_every_row_shares_exactly(engine, count):
    """A column holding one value in every row goes to PostgreSQL once, as text cast to the column's
    type, instead of as an array: it must come back as it went in, on every row."""
    shared = {
        "display_name": 'He said "hi", back\\slash {braces}\nNULL',
        "company_name": None,
        "balance": Decimal("0.10"),
        "active": False,
        "sync_state": SyncState.FAILED,
        "qb_updated_at": NOW - timedelta(microseconds=1),
    }
    rows = [{"realm_id": REALM, "qb_id": str(n), **shared} for n in range(count)]
    with session_scope(engine) as session:
        mirror_rows.upsert_by_qb_id(session, Customer, rows)
    with session_scope(engine) as session:
        stored = session.scalars(sa.select(Customer).order_by(Customer.qb_id)).all()
    assert [c.qb_id for c in stored] == [row["qb_id"] for row in rows]
    for customer in stored:
        assert {key: getattr(customer, key) for key in shared} == shared

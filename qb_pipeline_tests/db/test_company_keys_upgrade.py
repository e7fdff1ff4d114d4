"""Migration 0017 on a database holding rows: they get the connected company when exactly one is connected
(none or several: they stay unassigned, NULL), and the unique keys hold per company from then on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.session import make_engine

AT = "2026-11-01 00:00:00+00:00"
TABLES = ("customers", "items", "orders", "price_levels", "sync_log", "invoice_batches")
REALM, OTHER = "4620816365000000001", "4620816365000000002"


def rows_at_0016(connection, realms: list[str]) -> None:
    """A customer, an item, an order, a price level, an activity row and a batch as revision 0016 wrote them."""
    run = connection.execute
    for realm in realms:
        run(
            sa.text("INSERT INTO qb_tokens (realm_id, refresh_token_encrypted, updated_at) VALUES (:r, 'x', :at)"),
            {"r": realm, "at": AT},
        )
    for table, name in (("customers", "display_name"), ("items", "name")):
        run(
            sa.text(
                f"INSERT INTO {table} (qb_id, {name}, name_key, sync_state, active, created_at, updated_at) "
                "VALUES ('1', 'Cool Cars', 'cool cars', 'synced', true, :at, :at)"
            ),
            {"at": AT},
        )
    run(
        sa.text(
            "INSERT INTO orders (order_number, ordered_at, status, attempts, created_at, updated_at) "
            "VALUES ('SO-1', :at, 'pending', 0, :at, :at)"
        ),
        {"at": AT},
    )
    run(
        sa.text(
            "INSERT INTO price_levels (name, name_key, level_type, active, created_at) "
            "VALUES ('Wholesale', 'wholesale', 'FixedPercentage', true, :at)"
        ),
        {"at": AT},
    )
    run(
        sa.text(
            "INSERT INTO sync_log (logged_at, entity, outcome, processed, failed, message) VALUES (:at, 'X', 'SUCCESS', 0, 0, 'm')"
        ),
        {"at": AT},
    )
    run(
        sa.text("INSERT INTO invoice_batches (request_id, run_id, payload, created_at) VALUES ('q', 'r', '{}', :at)"),
        {"at": AT},
    )


def companies_after_upgrade(url: str, realms: list[str]) -> set:
    upgrade(url, "0016")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            rows_at_0016(connection, realms)
        upgrade(url)
        with engine.connect() as connection:
            return {connection.scalar(sa.text(f"SELECT realm_id FROM {table}")) for table in TABLES}
    finally:
        engine.dispose()


def test_rows_of_a_database_of_one_company_are_that_company_s(empty_database_url):
    assert companies_after_upgrade(empty_database_url, [REALM]) == {REALM}
    engine = make_engine(empty_database_url)
    try:
        insert = sa.text(
            "INSERT INTO customers (realm_id, qb_id, display_name, name_key, sync_state, active, created_at, "
            "updated_at) VALUES (:r, '1', 'Beta Bakery', 'beta bakery', 'synced', true, :at, :at)"
        )
        with engine.begin() as connection:  # Id "1" of another company is another customer
            connection.execute(insert, {"r": OTHER, "at": AT})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(insert, {"r": REALM, "at": AT})  # but within one company, one
    finally:
        engine.dispose()


@pytest.mark.parametrize("realms", [[], [REALM, OTHER]], ids=["none connected", "two connected"])
def test_rows_stay_unassigned_when_no_single_company_is_connected(empty_database_url, realms):
    assert companies_after_upgrade(empty_database_url, realms) == {None}

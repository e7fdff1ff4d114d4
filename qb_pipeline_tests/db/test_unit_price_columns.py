"""Migration 0009 widens the unit-price columns to QuickBooks' seven places, keeping every price there,
and has the next items pull read every item again (PostgreSQL had rounded mirrored prices to the cent)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.session import make_engine

AT = datetime(2026, 1, 5, tzinfo=timezone.utc).replace(tzinfo=None)  # plain SQL: as the UTC columns store it
# (table, price column, the row around it as revision 0008 wrote it)
PRICE_COLUMNS = {
    ("items", "unit_price"): "INSERT INTO items (id, name, created_at, updated_at, unit_price, sync_state, active) "
    "VALUES (1, 'Widget', :at, :at, :price, 'synced', true)",
    ("item_prices", "unit_price"): "INSERT INTO item_prices (item_id, unit_price, valid_from, created_at) "
    "VALUES (1, :price, :at, :at)",
    ("customer_item_prices", "unit_price"): "INSERT INTO customer_item_prices "
    "(customer_id, item_id, unit_price, source, valid_from, created_at) VALUES (1, 1, :price, 'import', :at, :at)",
    ("price_level_items", "custom_price"): "INSERT INTO price_level_items "
    "(price_level_id, item_id, custom_price, valid_from, created_at) VALUES (1, 1, :price, :at, :at)",
    ("order_lines", "unit_price"): "INSERT INTO order_lines (order_id, line_number, item_name, quantity, unit_price) "
    "VALUES (1, 1, 'Widget', 1, :price)",
}


def _read(engine) -> dict:
    with engine.connect() as connection:
        return {
            key: Decimal(str(connection.execute(sa.text(f"SELECT {key[1]} FROM {key[0]}")).scalar_one()))
            for key in PRICE_COLUMNS
        }


def test_upgrading_keeps_every_price_and_then_holds_seven_places(empty_database_url):
    upgrade(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO customers (id, display_name, created_at, updated_at, sync_state, active) "
                    "VALUES (1, 'Acme', :at, :at, 'synced', true)"
                ),
                {"at": AT},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO price_levels (id, name, level_type, active, created_at) "
                    "VALUES (1, 'VIP', 'PerItem', true, :at)"
                ),
                {"at": AT},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO orders (id, order_number, customer_name, status, attempts, ordered_at, created_at, updated_at) "
                    "VALUES (1, 'SO-1', 'Acme', 'pending', 0, :at, :at, :at)"
                ),
                {"at": AT},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO sync_cursors (realm_id, entity, covered_until, updated_at) "
                    "VALUES ('1', 'Item', :at, :at), ('1', 'Customer', :at, :at)"
                ),
                {"at": AT},
            )
            for statement in PRICE_COLUMNS.values():
                connection.execute(sa.text(statement), {"price": "12.34", "at": AT})
        upgrade(empty_database_url)
        assert set(_read(engine).values()) == {Decimal("12.34")}  # kept
        with engine.connect() as connection:  # the next items pull reads every item (and its price) again
            assert connection.execute(sa.text("SELECT entity FROM sync_cursors")).scalars().all() == ["Customer"]
        with engine.begin() as connection:
            for table, column in PRICE_COLUMNS:
                connection.execute(sa.text(f"UPDATE {table} SET {column} = :price"), {"price": "0.1234567"})
        # not rounded any more (PostgreSQL rounded to the column's scale; SQLite keeps the number it is given)
        assert set(_read(engine).values()) == {Decimal("0.1234567")}
    finally:
        engine.dispose()

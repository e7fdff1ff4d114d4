"""Items mirrored before price history was kept (migration 0003 created it empty) keep the price an order
was placed at: migration 0010 backfills their history, and a pull that changes a price keeps the old one
until the change."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from quickbooks.objects.item import Item as QuickBooksItem

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.models import Item, ItemPrice, Order, OrderStatus
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.token_cipher import new_key
from qb_pipeline.db.types import UTCDateTime, utcnow
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.price_book import PriceBook
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline.sync.records import parse_instant
from qb_pipeline_tests.fixtures.gateway import sandbox_gateway

D = Decimal
JAN, FEB, MAR = (datetime(2026, month, 1, tzinfo=timezone.utc) for month in (1, 2, 3))
INSTANTS = ("qb_updated_at", "created_at", "updated_at", "ordered_at")


def insert_at_0008(engine, table: str, **values) -> int:
    """A row written by the code of revision 0008, through plain SQL (today's models have more columns)."""
    columns = ", ".join(values)
    statement = sa.text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in values)}) RETURNING id")
    types = {
        c: UTCDateTime() if c in INSTANTS else sa.Numeric(18, 6)
        for c, v in values.items()
        if c in INSTANTS or isinstance(v, Decimal)
    }
    statement = statement.bindparams(*(sa.bindparam(c, type_=t) for c, t in types.items()))
    with engine.begin() as connection:
        return connection.execute(statement, values).scalar_one()


def mirrored_at_0008(engine, table: str, record: dict, name_column: str, name: str, **values) -> int:
    now = utcnow()
    return insert_at_0008(
        engine,
        table,
        **{name_column: name, "name_key": name.casefold()},
        qb_id=record["Id"],
        qb_sync_token=record["SyncToken"],
        qb_updated_at=parse_instant(record["MetaData"]["LastUpdatedTime"]),
        sync_state="synced",
        active=True,
        created_at=now,
        updated_at=now,
        **values,
    )


def history(engine, item_id: int) -> list[tuple]:
    with session_scope(engine) as session:
        rows = session.scalars(sa.select(ItemPrice).where(ItemPrice.item_id == item_id).order_by(ItemPrice.valid_from))
        return [(row.unit_price, row.valid_from, row.valid_to) for row in rows]


def test_an_order_placed_before_a_quickbooks_price_change_is_invoiced_at_the_price_then_after_upgrading(
    sandbox, empty_database_url
):
    """Issue #26 item 2, end to end: a database at 0008 holds an item at 2.00 and no history; an order is
    placed; the upgrade; QuickBooks changes the item to 2.50; a pull; a push. QuickBooks' own copy of the
    invoice (the sandbox's dump) carries 2.00."""
    sandbox.seed(customers=1, items=1)
    client = sandbox.qb_client()
    item = QuickBooksItem.get(sandbox.dump("Item")["records"][0]["Id"], qb=client)
    item.UnitPrice = D("2.00")
    item.save(qb=client)
    customer_record = sandbox.dump("Customer")["records"][0]
    item_record = sandbox.dump("Item")["records"][0]
    assert D(str(item_record["UnitPrice"])) == D("2.00")

    upgrade(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    try:
        customer_id = mirrored_at_0008(engine, "customers", customer_record, "display_name", "Customer 0")
        item_id = mirrored_at_0008(
            engine, "items", item_record, "name", item_record["Name"], unit_price=D("2.00"), item_type="Service"
        )
        now = utcnow()
        order_id = insert_at_0008(
            engine,
            "orders",
            order_number="BEFORE-1",
            customer_id=customer_id,
            ordered_at=now,
            status="pending",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        insert_at_0008(engine, "order_lines", order_id=order_id, line_number=1, item_id=item_id, quantity=D("3"))

        upgrade(empty_database_url)
        time.sleep(1.1)  # QuickBooks' LastUpdatedTime has one-second resolution: the change comes after the order
        item = QuickBooksItem.get(item_record["Id"], qb=client)
        item.UnitPrice = D("2.50")
        item.save(qb=client)

        gateway = sandbox_gateway(sandbox, engine, new_key())
        pull_name_list(gateway, engine, "Item")
        with session_scope(engine) as session:
            assert session.get(Item, item_id).unit_price == D("2.50")  # the pull saw the change
        push_orders(gateway, engine, "run-1")
        with session_scope(engine) as session:
            assert session.get(Order, order_id).status == OrderStatus.SYNCED
    finally:
        engine.dispose()
    (invoice,) = sandbox.dump("Invoice")["records"]
    (line,) = [line for line in invoice["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
    assert D(str(line["SalesItemLineDetail"]["UnitPrice"])) == D("2.00")
    assert D(str(line["Amount"])) == D("6.00")


def test_the_migration_backfills_each_item_without_history_from_its_quickbooks_version(empty_database_url):
    """On SQLite and PostgreSQL: an item with a price and no history gets its price from the version that
    carried it (LastUpdatedTime), a never-pulled one from its creation here; an item without a price gets
    none, an item with history keeps exactly its own; a downgrade and upgrade again adds nothing."""
    upgrade(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    try:

        def item(name: str, **values) -> int:
            defaults = {"name_key": name.lower(), "item_type": "Service", "sync_state": "synced", "active": True}
            return insert_at_0008(
                engine, "items", name=name, **{**defaults, "created_at": JAN, "updated_at": JAN, **values}
            )

        pulled = item("Pulled", qb_id="1", qb_updated_at=FEB, unit_price=D("2.00"))
        local = item("Local", unit_price=D("7.25"), sync_state="pending")
        priceless = item("Priceless", qb_id="2", qb_updated_at=FEB)
        changed = item("Changed", qb_id="3", qb_updated_at=MAR, unit_price=D("4.00"))
        insert_at_0008(engine, "item_prices", item_id=changed, unit_price=D("4.00"), valid_from=MAR, created_at=MAR)

        upgrade(empty_database_url)
        backfilled = {row_id: history(engine, row_id) for row_id in (pulled, local, priceless, changed)}
        assert backfilled == {
            pulled: [(D("2.00"), FEB, None)],
            local: [(D("7.25"), JAN, None)],
            priceless: [],
            changed: [(D("4.00"), MAR, None)],
        }
        upgrade(empty_database_url, "0008")
        upgrade(empty_database_url)
        assert {row_id: history(engine, row_id) for row_id in backfilled} == backfilled
    finally:
        engine.dispose()


def test_a_pull_that_changes_the_price_of_an_item_without_history_keeps_the_old_price_until_the_change(
    sandbox, make_gateway, engine
):
    """An item in the mirror with no history (as one mirrored before 0003, then not backfilled): the pull
    that sees its new price records the one we held, until the instant of the change."""
    gateway = make_gateway()
    sandbox.seed(items=1)
    pull_name_list(gateway, engine, "Item")
    with session_scope(engine) as session:
        item = session.scalars(sa.select(Item)).one()
        session.execute(sa.delete(ItemPrice))
        item_id, qb_id, held, held_since = item.id, item.qb_id, item.unit_price, item.qb_updated_at
    ordered_at = utcnow()
    time.sleep(1.1)  # QuickBooks' LastUpdatedTime has one-second resolution
    record = sandbox.dump("Item")["records"][0]
    (outcome,) = gateway.update_many(
        "Item", [("item", {"Id": qb_id, "SyncToken": record["SyncToken"], "sparse": True, "UnitPrice": held + 1})]
    )
    assert outcome.ok, outcome
    pull_name_list(gateway, engine, "Item")
    changed_at = parse_instant(sandbox.dump("Item")["records"][0]["MetaData"]["LastUpdatedTime"])
    assert history(engine, item_id) == [(held, held_since, changed_at), (held + 1, changed_at, None)]
    with session_scope(engine) as session:
        item = session.get(Item, item_id)
        assert PriceBook(session, [], [item_id]).item_price_at(item, ordered_at) == held


def test_an_order_from_before_the_history_starts_gets_the_earliest_price_not_a_later_one(engine):
    """History reaches back to February (the backfill's start); an order of January is priced with
    February's price, not with the price QuickBooks set in March."""
    with session_scope(engine) as session:
        item = Item(name="Rope", unit_price=D("2.50"))
        session.add(item)
        session.flush()
        session.add_all(
            [
                ItemPrice(item_id=item.id, unit_price=D("2.00"), valid_from=FEB, valid_to=MAR),
                ItemPrice(item_id=item.id, unit_price=D("2.50"), valid_from=MAR),
            ]
        )
        session.flush()
        book = PriceBook(session, [], [item.id])
        assert [book.item_price_at(item, at) for at in (JAN, FEB, MAR + timedelta(days=1))] == [
            D("2.00"),
            D("2.00"),
            D("2.50"),
        ]
        assert book.item_price_at(Item(id=-1, name="Never pulled", unit_price=D("9.00")), JAN) == D("9.00")

"""One comparison key for names (Unicode canonical caseless matching), and the migration that gives the
rows already in a database theirs. Expected keys are written out by hand, not computed by the code."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from qb_pipeline.db.migrate import current_revision, upgrade
from qb_pipeline.db.mirror_rows import upsert_by_qb_id
from qb_pipeline.db.models import Customer, Item, PriceLevel, PriceLevelType
from qb_pipeline.db.names import name_key
from qb_pipeline.db.session import make_engine, session_scope

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


SAME = [
    ("Café Größe", "CAFÉ GRÖSSE"),  # ß is SS in capitals
    ("Café Größe", "CAFÉ GRÖẞE"),  # ẞ, the capital sharp s
    ("Straße", "strasse"),
    ("İzmir Ltd", "i\u0307zmir ltd"),  # Turkish dotted capital I folds to i + combining dot above
    ("Caf\u00e9", "Cafe\u0301"),  # é as one code point, and as e + combining acute
    (nfd("Große Kiste"), "GROSSE KISTE"),
    ("  Acme Ltd\u00a0", "acme ltd"),  # surrounding white space, a no-break space too
]
DIFFERENT = [
    ("İzmir", "Izmir"),  # plain I folds to plain i, not to i + dot
    ("ı", "i"),  # dotless i is a letter of its own
    ("Café", "Cafe"),  # an accent is not a case
    ("Acme  Ltd", "Acme Ltd"),  # white space inside a name counts
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_names_that_differ_only_in_case_or_normalization_have_one_key(one, other):
    assert name_key(one) == name_key(other)


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_names_that_differ_in_letters_keep_different_keys(one, other):
    assert name_key(one) != name_key(other)


def test_a_key_is_stored_composed():
    assert name_key("CAFE\u0301 GRÖẞE") == "caf\u00e9 gr\u00f6sse"
    assert name_key("İZMİR") == "i\u0307zmi\u0307r"


CUSTOMERS = {  # display name → its key, by hand
    "Café Größe": "café grösse",
    "İZMİR LTD": "i\u0307zmi\u0307r ltd",
    "Cafe\u0301 Noir ": "café noir",
    "STRAẞE 1": "strasse 1",
}
ITEMS = {"Große Kiste": "grosse kiste", "O\u0308L": "öl"}
LEVELS = {"Gold": "gold", "Straße": "strasse"}
FILLER = 2345  # customers, so the backfill goes in more than one batch


def insert_at_0006(engine, customers: dict, items: dict, levels: dict) -> None:
    """Rows written by the code of revision 0006 (no name_key column yet), through plain SQL."""
    inserts = [
        ("customers", "display_name, created_at, updated_at", [*(f"Filler {n}" for n in range(FILLER)), *customers]),
        ("items", "name, created_at, updated_at", list(items)),
        ("price_levels", "name, created_at, level_type", list(levels)),
    ]
    with engine.begin() as connection:
        for table, columns, names in inserts:
            if names:
                connection.execute(
                    sa.text(f"INSERT INTO {table} ({columns}) VALUES (:name, :at, :more)"),
                    [
                        {"name": name, "at": NOW, "more": NOW if "updated_at" in columns else "PerItem"}
                        for name in names
                    ],
                )


def test_upgrading_from_0006_gives_every_existing_row_its_name_key(empty_database_url):
    upgrade(empty_database_url, "0006")
    engine = make_engine(empty_database_url)
    try:
        insert_at_0006(engine, CUSTOMERS, ITEMS, LEVELS)
        upgrade(empty_database_url)
        with engine.connect() as connection:
            keys = {
                table: dict(connection.execute(sa.text(f"SELECT {column}, name_key FROM {table}")).all())
                for table, column in (("customers", "display_name"), ("items", "name"), ("price_levels", "name"))
            }
        assert {name: keys["customers"][name] for name in CUSTOMERS} == CUSTOMERS
        assert keys["items"] == ITEMS and keys["price_levels"] == LEVELS
        fillers = {name: key for name, key in keys["customers"].items() if name not in CUSTOMERS}
        assert fillers == {f"Filler {n}": f"filler {n}" for n in range(FILLER)}
    finally:
        engine.dispose()


def test_upgrading_refuses_two_price_levels_that_are_one_name_and_names_them(empty_database_url):
    """A price level is found by its key, so two levels with one key could not both be used: the upgrade
    stops before changing anything and says which to rename."""
    upgrade(empty_database_url, "0006")
    engine = make_engine(empty_database_url)
    try:
        insert_at_0006(engine, {}, {}, {"Straße": "", "STRASSE": "", "Gold": ""})
        with pytest.raises(Exception, match="'STRASSE' and 'Straße'"):
            upgrade(empty_database_url)
        assert current_revision(engine) == "0006"
    finally:
        engine.dispose()


def test_the_database_refuses_a_second_price_level_of_the_same_name_key(engine):
    with session_scope(engine) as session:
        session.add(PriceLevel(name="Straße", level_type=PriceLevelType.PER_ITEM))
    with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as session:
        session.add(PriceLevel(name="STRASSE", level_type=PriceLevelType.PER_ITEM))


def test_every_writer_keeps_the_key_with_the_name(engine):
    """The ORM (create, rename), a Core insert, and the bulk upsert of a pull (insert, and a rename in
    QuickBooks: on PostgreSQL an array of keys, then a single key sent once) all store the name's key."""
    with session_scope(engine) as session:
        local = Customer(display_name="Café Größe")
        session.add(local)
        session.execute(sa.insert(Item).values(name="GROẞE KISTE"))
        upsert_by_qb_id(
            session,
            Customer,
            [
                {"realm_id": "1", "qb_id": "1", "display_name": "İzmir Ltd"},
                {"realm_id": "1", "qb_id": "2", "display_name": "Straße"},
            ],
        )
    with session_scope(engine) as session:
        session.get(Customer, local.id).display_name = "CAFE\u0301 NOIR"
        upsert_by_qb_id(session, Customer, [{"realm_id": "1", "qb_id": "2", "display_name": "Strasse Neu"}])
    with engine.connect() as connection:
        customers = dict(connection.execute(sa.text("SELECT display_name, name_key FROM customers")).all())
        items = dict(connection.execute(sa.text("SELECT name, name_key FROM items")).all())
    assert customers == {"CAFE\u0301 NOIR": "café noir", "İzmir Ltd": "i\u0307zmir ltd", "Strasse Neu": "strasse neu"}
    assert items == {"GROẞE KISTE": "grosse kiste"}

"""A pricing file staged and swapped in (what the CLI and the drop folder run), counted from the tables
themselves: every kind of change lands as the file says, prices keep their seven places, and the export
written as it is read keeps a scheduled end that nothing follows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    PriceLevel,
    PriceLevelItem,
    PriceLevelPercentage,
)
from qb_pipeline.db.pricing_imports import PricingImportRow
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.pricing_export import export_pricing
from qb_pipeline.sync.pricing_stage import import_pricing_file

D = Decimal
NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
JAN, FEB = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc)
HEADER = "kind,customer,price_level,item,price,percent,valid_from,valid_to"


@pytest.fixture
def shop(engine):
    with session_scope(engine) as session:
        session.add_all(
            [
                Customer(display_name="Cool Cars"),
                Item(name="Rocks", unit_price=D("9")),
                Item(name="Sod", unit_price=D("1")),
            ]
        )
    return engine


def rows(engine, model, names: list, values: list) -> list[tuple]:
    """The table's intervals as (names…, values…, valid_from, valid_to), by names and valid_from."""
    with session_scope(engine) as session:
        statement = sa.select(*names, *values, model.valid_from, model.valid_to).select_from(model)
        for name in names:
            statement = statement.join(name.class_)
        return [tuple(row) for row in session.execute(statement.order_by(*names, model.valid_from))]


def test_every_kind_of_change_is_swapped_in_as_the_file_says_with_seven_places(shop):
    restored = import_pricing_file(
        shop,
        "\n".join(
            [
                HEADER,
                f"level_percent,,Wholesale,,,-10,{JAN.isoformat()},",
                f"level_item,,VIP,Rocks,0.0000015,,{JAN.isoformat()},",
                f"level_item,,VIP,Sod,,-12.5,{JAN.isoformat()},",
                f"assignment,Cool Cars,VIP,,,,{JAN.isoformat()},",
                f"customer_price,Cool Cars,,Rocks,99999999.9999999,,{JAN.isoformat()},{FEB.isoformat()}",
                f"customer_price,Cool Cars,,Rocks,0.125,,{FEB.isoformat()},",
                f"customer_price,Cool Cars,,Sod,12.3456789,,{JAN.isoformat()},",
            ]
        ),
        backdate=True,
        now=NOW,
    )
    assert (restored.applied, restored.errors) == (7, [])
    changed = import_pricing_file(
        shop,
        "\n".join(
            [
                HEADER,
                "customer_price,Cool Cars,,Rocks,0.1250001,,,",  # closes 0.125, opens the new price
                "customer_price,Cool Cars,,Sod,END,,,",  # closes only
                "assignment,Cool Cars,Wholesale,,,,,",
                "level_item,,New Level,Rocks,1.0000001,,,",  # a level the file creates
            ]
        ),
        now=NOW,
    )
    assert (changed.applied, changed.errors) == (4, [])

    assert rows(shop, CustomerItemPrice, [Item.name], [CustomerItemPrice.unit_price]) == [
        ("Rocks", D("99999999.9999999"), JAN, FEB),
        ("Rocks", D("0.125"), FEB, NOW),
        ("Rocks", D("0.1250001"), NOW, None),
        ("Sod", D("12.3456789"), JAN, NOW),
    ]
    assert rows(shop, CustomerPriceLevel, [PriceLevel.name], []) == [("VIP", JAN, NOW), ("Wholesale", NOW, None)]
    level_items = [PriceLevelItem.custom_price, PriceLevelItem.custom_percent]
    assert rows(shop, PriceLevelItem, [PriceLevel.name, Item.name], level_items) == [
        ("New Level", "Rocks", D("1.0000001"), None, NOW, None),
        ("VIP", "Rocks", D("0.0000015"), None, JAN, None),
        ("VIP", "Sod", None, D("-12.5"), JAN, None),
    ]
    assert rows(shop, PriceLevelPercentage, [PriceLevel.name], [PriceLevelPercentage.percent]) == [
        ("Wholesale", D("-10"), JAN, None)
    ]
    with session_scope(shop) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PricingImportRow)) == 0


def test_an_export_ends_with_a_scheduled_end_that_nothing_follows(shop):
    next_week = NOW + timedelta(days=7)
    import_pricing_file(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()},\n"
        f"customer_price,Cool Cars,,Rocks,END,,{next_week.isoformat()},\n",
        backdate=True,
        now=NOW,
    )
    with session_scope(shop) as session:
        exported = export_pricing(session, now=NOW)
    assert exported.splitlines()[1:] == [
        f"customer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()},import",
        f"customer_price,Cool Cars,,Rocks,END,,{next_week.isoformat()},",
    ]
    again = import_pricing_file(shop, exported, now=NOW)
    assert (again.applied, again.unchanged, again.errors) == (0, 2, [])

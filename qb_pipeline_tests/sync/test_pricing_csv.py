"""Pricing CSV: good rows applied, each bad row reported by line, strict mode, export round trip."""

from __future__ import annotations

import codecs
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.models import Customer, CustomerItemPrice, Item, PriceLevel
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync import price_book
from qb_pipeline.sync.pricing_csv import read_pricing_file
from qb_pipeline.sync.pricing_export import export_pricing
from qb_pipeline.sync.pricing_import import import_pricing
from qb_pipeline_tests.fixtures.name_lists import add_customers_and_items

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
GOOD_AND_BAD = """kind,customer,price_level,item,price,percent,valid_from
level_percent,,Wholesale,,,-10,
customer_price,Acme,,Widget,18.50,,
assignment,Acme,Wholesale,,,,
customer_price,Nobody,,Widget,1.00,,
customer_price,Acme,,Widget,abc,,
customer_price,Acme,,Widget,1.99900000,,
level_item,,VIP,Gadget,,,
refund,Acme,,,,,
level_item,,VIP,Gadget,4.00,,2026-12-01T00:00:00+00:00
customer_price,Acme,,Gadget,3.00,,2026-12-01
"""


@pytest.fixture
def shop(engine):
    add_customers_and_items(engine, ["Acme"], {"Widget": "20.00", "Gadget": "5.00"})
    return engine


def test_import_applies_good_rows_and_reports_each_bad_row_by_line(shop):
    with session_scope(shop) as session:
        report = import_pricing(session, io.StringIO(GOOD_AND_BAD), now=NOW)
    assert report.applied == 4
    assert report.errors == [
        (5, "customer 'Nobody' is not in the customer list"),
        (6, "price 'abc' is not a number (digits and one decimal point, like 1250.00)"),
        (7, "price 1.99900000 has more than 7 decimals (unit prices are kept to 7 places and never rounded)"),
        (8, "level_item needs a price or a percent (one of them; price=END ends the rule)"),
        (9, "unknown kind 'refund' (one of: customer_price, level_percent, level_item, assignment)"),
        (11, "valid_from '2026-12-01' needs a time zone offset (e.g. 2026-12-01T00:00:00+00:00)"),
    ]
    with session_scope(shop) as session:
        acme = session.scalars(sa.select(Customer)).one()
        widget, gadget = (session.scalars(sa.select(Item).where(Item.name == n)).one() for n in ("Widget", "Gadget"))
        assert price_book.effective_price(session, acme.id, widget, NOW).unit_price == Decimal("18.50")
        assert price_book.effective_price(session, acme.id, gadget, NOW) == price_book.PriceQuote(
            Decimal("4.50"), "price_level", "Wholesale"
        )
        # the VIP level was created by its good row and is not half-made by the bad one
        assert session.scalar(sa.select(sa.func.count()).select_from(PriceLevel)) == 2


TOO_MANY_DECIMALS = """kind,customer,price_level,item,price,percent,valid_from
customer_price,Acme,,Widget,8.00000000,,
customer_price,Acme,,Gadget,1.25000000,,
level_percent,,Wholesale,,,-10.00000,
level_item,,VIP,Gadget,,2.50000%,
customer_price,Acme,,Gadget,0.1250000,,
"""


def test_a_price_with_more_decimals_than_its_column_is_refused_whatever_its_digits(shop):
    """Trailing zeros count: 8.00000000 has eight decimals, one more than a unit price keeps; a percent
    keeps four. Seven places of a unit price are taken as written."""
    with session_scope(shop) as session:
        report = import_pricing(session, io.StringIO(TOO_MANY_DECIMALS), now=NOW)
    assert report.errors == [
        (2, "price 8.00000000 has more than 7 decimals (unit prices are kept to 7 places and never rounded)"),
        (3, "price 1.25000000 has more than 7 decimals (unit prices are kept to 7 places and never rounded)"),
        (4, "percent -10.00000 has more than four decimals (percentages are not rounded)"),
        (5, "percent 2.50000 has more than four decimals (percentages are not rounded)"),
    ]
    assert report.applied == 1
    with session_scope(shop) as session:
        assert session.scalars(sa.select(CustomerItemPrice.unit_price)).all() == [Decimal("0.125")]
        assert session.scalar(sa.select(sa.func.count()).select_from(PriceLevel)) == 0


def test_a_price_that_reads_like_a_thousands_separator_is_refused_with_both_readings(shop):
    """1.250 is 1250 to half of Europe and 1.25 to the rest: neither is guessed. 0.125 and 8.000000 (no
    grouping has six digits) are prices."""
    text = (
        "kind,customer,price_level,item,price,percent,valid_from\n"
        "customer_price,Acme,,Widget,1.250,,\n"
        "customer_price,Acme,,Gadget,1.000,,\n"
        "customer_price,Acme,,Widget,0.125,,\n"
        "customer_price,Acme,,Gadget,8.000000,,\n"
    )
    with session_scope(shop) as session:
        report = import_pricing(session, io.StringIO(text), now=NOW)
    assert report.errors == [
        (
            2,
            "price '1.250' reads like a number with a thousands separator: write 1.25 for that price, "
            "or 1250 without the point",
        ),
        (
            3,
            "price '1.000' reads like a number with a thousands separator: write 1.00 for that price, "
            "or 1000 without the point",
        ),
    ]
    with session_scope(shop) as session:
        assert sorted(session.scalars(sa.select(CustomerItemPrice.unit_price))) == [Decimal("0.125"), Decimal("8")]


def test_strict_import_applies_nothing_when_any_row_is_bad(shop):
    with session_scope(shop) as session:
        report = import_pricing(session, io.StringIO(GOOD_AND_BAD), strict=True, now=NOW)
    assert report.strict_rejected and report.applied == 0 and len(report.errors) == 6
    with session_scope(shop) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PriceLevel)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(CustomerItemPrice)) == 0


def test_missing_kind_column_is_reported():
    report = import_pricing(None, "customer,item,price\nAcme,Widget,1\n")
    assert report.errors and "no 'kind' column" in report.errors[0][1]


def test_export_round_trips_and_history_keeps_closed_intervals(shop):
    with session_scope(shop) as session:
        import_pricing(session, io.StringIO(GOOD_AND_BAD), now=NOW)
        import_pricing(
            session, "kind,customer,item,price\ncustomer_price,Acme,Widget,17.00\n", now=NOW + timedelta(days=1)
        )
        current = export_pricing(session)
        history = export_pricing(session, include_history=True)
    assert "customer_price,Acme,,Widget,17.00" in current and "18.50" not in current
    assert "level_percent,,Wholesale,,,-10," in current
    assert "18.50" in history and "17.00" in history
    # the export is itself a valid import, and importing it changes nothing
    with session_scope(shop) as session:
        again = import_pricing(session, current, now=NOW + timedelta(days=2))
        assert again.ok and (again.applied, again.unchanged) == (0, 4), again.errors


def test_a_level_percent_of_END_is_a_row_error_and_the_other_rows_still_apply(shop):
    later = NOW + timedelta(days=1)
    with session_scope(shop) as session:
        import_pricing(session, GOOD_AND_BAD, now=NOW)  # Acme on Wholesale (−10): a Gadget costs 4.50
    ending = (
        "kind,customer,price_level,item,price,percent,valid_from\n"
        "customer_price,Acme,,Widget,17.00,,\n"
        "level_percent,,Wholesale,,,END,\n"
        "level_percent,,Retail,,,5,\n"
    )
    reason = (
        "percent END: a level_percent row cannot end a level's percent; give the new percent (0 for the "
        "items' own prices), or take customers off the level with assignment rows (price_level=END)"
    )
    with session_scope(shop) as session:
        strict = import_pricing(session, ending, strict=True, now=later)
    assert strict.strict_rejected and strict.applied == 0 and strict.errors == [(3, reason)]
    with session_scope(shop) as session:
        report = import_pricing(session, ending, now=later)
    assert report.applied == 2 and report.errors == [(3, reason)]
    with session_scope(shop) as session:
        acme = session.scalars(sa.select(Customer)).one()
        widget, gadget = (session.scalars(sa.select(Item).where(Item.name == n)).one() for n in ("Widget", "Gadget"))
        assert price_book.effective_price(session, acme.id, widget, later).unit_price == Decimal("17.00")
        assert price_book.effective_price(session, acme.id, gadget, later).unit_price == Decimal("4.50")  # still −10
        names = session.scalars(sa.select(PriceLevel.name).order_by(PriceLevel.name)).all()
        assert names == ["Retail", "VIP", "Wholesale"]


def test_a_valid_to_not_after_valid_from_is_a_row_error(shop):
    text = (
        "kind,customer,price_level,item,price,percent,valid_from,valid_to\n"
        "customer_price,Acme,,Widget,8.00,,2026-02-01T00:00:00+00:00,2026-01-01T00:00:00+00:00\n"
        "customer_price,Acme,,Gadget,4.00,,,\n"
    )
    with session_scope(shop) as session:
        report = import_pricing(session, text, backdate=True, now=NOW)
    assert report.applied == 1
    assert report.errors == [
        (
            2,
            "valid_to 2026-01-01T00:00:00+00:00 is not after valid_from 2026-02-01T00:00:00+00:00: nothing would be in force",
        )
    ]


def test_a_file_with_a_utf8_byte_order_mark_imports_like_one_without(shop, tmp_path):
    path = tmp_path / "excel-utf8.csv"  # Excel's "CSV UTF-8" starts the file with a byte-order mark
    path.write_bytes(codecs.BOM_UTF8 + b"kind,customer,price_level,item,price,percent,valid_from\r\n")
    with path.open("a", encoding="utf-8", newline="") as file:
        file.write("customer_price,Acme,,Widget,18.50,,\r\nlevel_item,,Café,Gadget,4.00,,\r\n")
    with session_scope(shop) as session:
        from_file = import_pricing(session, read_pricing_file(path), now=NOW)
    assert (from_file.applied, from_file.errors) == (2, [])
    with path.open(encoding="utf-8") as file:  # the Python API given the file as opened, mark included
        with session_scope(shop) as session:
            again = import_pricing(session, file, now=NOW)
    assert (again.applied, again.unchanged, again.errors) == (0, 2, [])
    with session_scope(shop) as session:
        acme = session.scalars(sa.select(Customer)).one()
        widget = session.scalars(sa.select(Item).where(Item.name == "Widget")).one()
        assert price_book.effective_price(session, acme.id, widget, NOW).unit_price == Decimal("18.50")
        assert session.scalars(sa.select(PriceLevel.name)).all() == ["Café"]

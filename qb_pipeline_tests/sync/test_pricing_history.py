"""Pricing you can trust: each test reproduces one finding of the pricing audit (numbers in the names)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    CustomerPriceLevel,
    Item,
    Order,
    PriceLevel,
    PriceLevelItem,
    PriceLevelType,
)
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.db.types import to_cents
from qb_pipeline.sync import price_book, pricing
from qb_pipeline.sync.invoice_draft import draft_invoice
from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pricing_export import export_pricing
from qb_pipeline.sync.pricing_import import import_pricing
from qb_pipeline.sync.records import money
from qb_pipeline_tests.fixtures.name_lists import add_customers_and_items
from qb_pipeline_tests.fixtures.orders import add_one_line_order, build_shop, named_order

D = Decimal
NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
JAN, FEB, JUN, NOV10 = (datetime(2026, m, d, tzinfo=timezone.utc) for m, d in ((1, 1), (2, 1), (6, 15), (11, 10)))
HEADER = "kind,customer,price_level,item,price,percent,valid_from"


def add_shop(engine) -> None:
    add_customers_and_items(engine, ["Cool Cars"], {"Rocks": "9.00", "Sod": "78.53"})


@pytest.fixture
def shop(engine):
    add_shop(engine)
    return engine


def ids(session) -> tuple[int, Item]:
    return (
        session.scalars(sa.select(Customer.id)).one(),
        session.scalars(sa.select(Item).where(Item.name == "Rocks")).one(),
    )


def price_at(engine, at: datetime, item: str = "Rocks") -> Decimal:
    with session_scope(engine) as session:
        customer = session.scalars(sa.select(Customer.id)).one()
        row = session.scalars(sa.select(Item).where(Item.name == item)).one()
        return price_book.effective_price(session, customer, row, at).unit_price


def load(engine, text: str, **options):
    with session_scope(engine) as session:
        return import_pricing(session, text, now=NOW, **options)


def intervals(engine, model, *key) -> list[tuple]:
    with session_scope(engine) as session:
        return [(r.valid_from, r.valid_to) for r in session.scalars(sa.select(model).order_by(model.valid_from))]


def assert_no_overlap(rows: list[tuple]) -> None:
    for (a_from, a_to), (b_from, b_to) in itertools.combinations(rows, 2):
        end_a, end_b = (
            a_to or datetime.max.replace(tzinfo=timezone.utc),
            b_to or datetime.max.replace(tzinfo=timezone.utc),
        )
        assert not (a_from < end_b and b_from < end_a), f"{(a_from, a_to)} overlaps {(b_from, b_to)}"
    assert all(to is None or to > start for start, to in rows), "an empty or inverted interval"


def test_1_export_edit_import_does_not_reprice_past_orders_and_an_unchanged_export_changes_nothing(shop):
    load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()}\n", backdate=True)
    with session_scope(shop) as session:
        exported = export_pricing(session, now=NOW)
    unchanged = load(shop, exported)
    assert (unchanged.applied, unchanged.unchanged, unchanged.errors) == (0, 1, [])
    edited = load(shop, exported.replace("8.00", "9.50"))
    assert edited.applied == 0 and "history is not rewritten" in edited.errors[0][1]
    assert "leave valid_from empty" in edited.errors[0][1]
    backdated = load(shop, exported.replace("8.00", "9.50").replace(JAN.isoformat(), JUN.isoformat()))
    assert backdated.applied == 0 and "in the past" in backdated.errors[0][1] and "--backdate" in backdated.errors[0][1]
    assert price_at(shop, JUN) == D("8.00")
    assert len(intervals(shop, CustomerItemPrice)) == 1  # no zero-length interval, no duplicate row
    from_now = load(shop, exported.replace("8.00", "9.50").replace(JAN.isoformat(), ""))
    assert from_now.applied == 1 and price_at(shop, JUN) == D("8.00") and price_at(shop, NOW) == D("9.50")


@pytest.mark.parametrize("ago", [timedelta(minutes=2), timedelta(seconds=1)])
def test_a_valid_from_in_the_past_needs_backdate_however_recent(shop, ago):
    load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()}\n", backdate=True)
    recent = f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,9.50,,{(NOW - ago).isoformat()}\n"
    refused = load(shop, recent)
    assert refused.applied == 0 and refused.errors[0][0] == 2
    assert "in the past" in refused.errors[0][1] and "--backdate" in refused.errors[0][1]
    assert price_at(shop, NOW - ago) == price_at(shop, NOW) == D("8.00")  # the past is not rewritten
    assert intervals(shop, CustomerItemPrice) == [(JAN, None)]
    backdated = load(shop, recent, backdate=True)
    assert backdated.applied == 1 and price_at(shop, NOW - ago) == D("9.50")
    from_now = load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,10.00,,\n")  # no valid_from: now
    assert from_now.applied == 1 and intervals(shop, CustomerItemPrice)[-1] == (NOW, None)


def test_2_an_ended_price_cannot_be_backdated_into_overlap(shop):
    load(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()}\n"
        f"customer_price,Cool Cars,,Rocks,END,,{NOV10.isoformat()}\n",
        backdate=True,
    )
    refused = load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,5.00,,{FEB.isoformat()}\n")
    assert refused.errors and "in the past" in refused.errors[0][1] and price_at(shop, JUN) == D("8.00")
    load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,5.00,,{FEB.isoformat()}\n", backdate=True)
    assert_no_overlap(intervals(shop, CustomerItemPrice))
    assert (price_at(shop, JAN), price_at(shop, JUN), price_at(shop, NOW)) == (D("8.00"), D("5.00"), D("9.00"))
    first_level = load(
        shop, f"{HEADER}\nlevel_percent,,Wholesale,,,-10,\nassignment,Cool Cars,Wholesale,,,,{FEB.isoformat()}\n"
    )
    assert first_level.errors and "in the past" in first_level.errors[0][1]
    assert intervals(shop, CustomerPriceLevel) == []


def test_2_the_database_refuses_an_empty_interval(shop):
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(shop) as session:
            customer, rocks = ids(session)
            session.add(
                CustomerItemPrice(
                    customer_id=customer, item_id=rocks.id, unit_price=D("1.00"), valid_from=JAN, valid_to=JAN
                )
            )


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("customer_price,Cool Cars,,Rocks", "the row has 4 fields, the header 7"),  # truncated: would end the price
        ("assignment,Cool Cars", "the row has 2 fields"),  # would remove the level
        ("customer_price,Cool Cars,,Rocks,1,250.00,,", "thousands separator"),  # would set 1.00
        ("customer_price,Cool Cars,,Rocks,8.00,,,extra", "the row has 8 fields"),
        ("customer_price,Cool Cars,,Rocks,,,", "price is empty (write END"),
        ("customer_price,Cool Cars,Wholesale,Rocks,8.00,,", "does not use the price_level column"),
        ("customer_price,Cool Cars,,Rocks,1e30,,", "is not a number"),
        ("level_percent,,Wholesale,,,-12.34565,", "more than four decimals"),
    ],
)
def test_3_a_malformed_row_never_ends_or_changes_a_price(shop, row, needle):
    load(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,\nlevel_percent,,Wholesale,,,-10,\n"
        "assignment,Cool Cars,Wholesale,,,,\n",
    )
    report = load(shop, f"{HEADER}\n{row}\n")
    assert report.applied == 0 and needle in report.errors[0][1]
    assert price_at(shop, NOW) == D("8.00")
    with session_scope(shop) as session:
        assert (
            session.scalar(
                sa.select(sa.func.count()).select_from(CustomerPriceLevel).where(CustomerPriceLevel.valid_to.is_(None))
            )
            == 1
        )


def test_3_an_unknown_header_column_is_refused(shop):
    report = load(
        shop, "kind,customer,price_level,item,unit_price,percent,valid_from\ncustomer_price,Cool Cars,,Rocks,8.00,,\n"
    )
    assert report.errors == [
        (
            1,
            "unknown column 'unit_price' in the header (columns: kind, customer, price_level, "
            "item, price, percent, valid_from, source, valid_to)",
        )
    ]


def test_4_an_order_is_priced_with_the_item_price_in_force_at_its_time(shop):
    with session_scope(shop) as session:
        _customer, rocks = ids(session)
        pricing.record_item_price(session, rocks.id, D("9.00"), at=JAN)
        pricing.record_item_price(session, rocks.id, D("10.80"), at=NOV10)
        rocks.unit_price = D("10.80")  # what the pull leaves in items
        level = PriceLevel(name="Wholesale", level_type=PriceLevelType.FIXED_PERCENTAGE)
        session.add(level)
        session.flush()
        pricing.set_level_percentage(session, level.id, D("0"), at=JAN)
        pricing.assign_price_level(session, _customer, level.id, at=JAN)
    assert price_at(shop, NOV10 - timedelta(days=5)) == D("9.00")  # a retried Nov 5 order keeps Nov 5's price
    assert price_at(shop, NOW) == D("10.80")


def test_5_money_rounds_half_up_everywhere_and_percent_decimals_are_refused(shop):
    assert (to_cents(D("2.125")), to_cents(D("-2.125")), money("1.005"), money(1.005)) == (
        D("2.13"),
        D("-2.13"),
        D("1.01"),
        D("1.01"),
    )
    # a percentage price keeps seven places, from the percent as given (rounding it to -12.3457 would give 68.8350003)
    assert price_book.apply_percent(D("78.53"), D("-12.34565")) == D("68.8349611")
    with session_scope(shop) as session:
        level = PriceLevel(name="Odd", level_type=PriceLevelType.FIXED_PERCENTAGE)
        session.add(level)
        session.flush()
        with pytest.raises(price_book.PricingError, match="more than four decimals"):
            pricing.set_level_percentage(session, level.id, D("-12.34565"))


def test_8_a_history_export_restores_exactly_into_an_empty_database(shop, tmp_path):
    load(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()}\n"
        f"customer_price,Cool Cars,,Rocks,8.50,,{FEB.isoformat()}\n"
        f"customer_price,Cool Cars,,Rocks,END,,{NOV10.isoformat()}\n"
        f"level_item,,VIP,Sod,0.00,,{JAN.isoformat()}\n",
        backdate=True,
    )
    with session_scope(shop) as session:
        history = export_pricing(session, include_history=True)
    assert "level_item,,VIP,Sod,0.00" in history  # 10: a free item is 0.00, not an empty cell
    empty = make_engine(f"sqlite:///{tmp_path / 'restored.sqlite'}")
    upgrade(empty.url.render_as_string(hide_password=False))
    add_shop(empty)
    restored = load(empty, history, backdate=True)
    assert restored.errors == [] and restored.applied == 3
    assert intervals(empty, CustomerItemPrice) == intervals(shop, CustomerItemPrice)
    assert price_at(empty, NOW) == D("9.00")  # the ended price stays ended
    assert price_at(empty, NOW, "Sod") == D("78.53")
    with session_scope(empty) as session:
        assert export_pricing(session, include_history=True) == history


def test_9_a_future_price_does_not_block_todays_change(shop):
    later = NOW + timedelta(days=10)
    load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,9.50,,{later.isoformat()}\n")
    today = load(shop, f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.50,,\n")
    assert today.errors == [] and today.applied == 1
    assert (price_at(shop, NOW), price_at(shop, later)) == (D("8.50"), D("9.50"))
    assert_no_overlap(intervals(shop, CustomerItemPrice))


def test_11_conflicts_compare_values_and_instants_not_text(shop):
    same = load(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,2026-12-01T00:00:00Z\n"
        "customer_price,Cool Cars,,Rocks,8,,2026-12-01T00:00:00+00:00\n",
    )
    assert same.errors == []
    clash = load(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Sod,8.00,,2026-12-01T00:00:00Z\n"
        "customer_price,Cool Cars,,Sod,9.00,,2026-12-01T01:00:00+01:00\n",
    )
    assert clash.errors and "conflicts with line 2" in clash.errors[0][1]


def test_14_the_python_api_enforces_percent_bounds(shop):
    with session_scope(shop) as session:
        level = PriceLevel(name="Deep", level_type=PriceLevelType.FIXED_PERCENTAGE)
        vip = PriceLevel(name="VIP", level_type=PriceLevelType.PER_ITEM)
        session.add_all([level, vip])
        session.flush()
        _customer, rocks = ids(session)
        with pytest.raises(price_book.PricingError, match="outside -100"):
            pricing.set_level_percentage(session, level.id, D("-150"))
        with pytest.raises(price_book.PricingError, match="outside -100"):
            pricing.set_level_item(session, vip.id, rocks.id, custom_percent=D("-150"))
        assert session.scalar(sa.select(sa.func.count()).select_from(PriceLevelItem)) == 0


def test_12_non_ascii_names_match_case_insensitively_on_every_database(engine):
    with session_scope(engine) as session:
        session.add_all([Customer(display_name="École Dupont"), Item(name="Öl", unit_price=D("3.00"))])
        session.flush()
        order = named_order("E-1", "ÉCOLE DUPONT", "öL:2")
        session.add(order)
        session.flush()
        draft = draft_invoice(session, order)
        assert (draft.customer.display_name, draft.lines[0].item.name, draft.total) == ("École Dupont", "Öl", D("6.00"))
    report = load(engine, f"{HEADER}\ncustomer_price,ÉCOLE DUPONT,,ÖL,2.50,,\n")
    assert report.errors == [] and report.applied == 1


def test_13_an_invoice_is_dated_with_the_companys_calendar_date(sandbox, make_gateway, engine):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)
    order_id = add_one_line_order(engine, "LATE-1", "1")
    with session_scope(engine) as session:  # 20:00 on Nov 30 in the sandbox company's zone (UTC−8)
        session.get(Order, order_id).ordered_at = datetime(2026, 12, 1, 4, tzinfo=timezone.utc)
    push_orders(gateway, engine, "run-1")
    (invoice,) = sandbox.dump("Invoice")["records"]
    assert invoice["TxnDate"] == "2026-11-30"


def test_an_export_keeps_the_price_in_force_beside_a_scheduled_one_and_reimports_as_no_change(shop):
    next_month, next_week = NOW + timedelta(days=30), NOW + timedelta(days=7)
    load(
        shop,
        f"{HEADER}\ncustomer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()}\n"
        f"customer_price,Cool Cars,,Rocks,9.50,,{next_month.isoformat()}\n"
        f"customer_price,Cool Cars,,Sod,70.00,,{JAN.isoformat()}\n"
        f"customer_price,Cool Cars,,Sod,END,,{next_week.isoformat()}\n",
        backdate=True,
    )
    before = intervals(shop, CustomerItemPrice)
    with session_scope(shop) as session:
        exported = export_pricing(session, now=NOW)
    assert f"customer_price,Cool Cars,,Rocks,8.00,,{JAN.isoformat()},import" in exported  # in force now
    assert f"customer_price,Cool Cars,,Rocks,9.50,,{next_month.isoformat()},import" in exported  # scheduled
    assert f"customer_price,Cool Cars,,Sod,END,,{next_week.isoformat()}," in exported  # a scheduled end
    again = load(shop, exported)
    assert (again.applied, again.unchanged, again.errors) == (0, 4, [])
    assert intervals(shop, CustomerItemPrice) == before
    assert (price_at(shop, NOW), price_at(shop, next_month)) == (D("8.00"), D("9.50"))
    assert (price_at(shop, NOW, "Sod"), price_at(shop, next_week, "Sod")) == (D("70.00"), D("78.53"))

"""Malformed pricing CSV files: one line naming the row and the problem, nothing applied."""

import io
from collections.abc import Callable

import sqlalchemy as sa

from drills.bad_input.harness import CaseFailed, D, Drill, check, needs
from qb_pipeline.db.models import (
    Customer,
    CustomerItemPrice,
    Item,
)
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.pricing_csv import PricingFileError, read_pricing_file
from qb_pipeline.sync.pricing_import import import_pricing

HEADER = "kind,customer,price_level,item,price,percent,valid_from"
GOOD_ROW = "customer_price,Acme,,Widget,18.50,,"


def bad_csv(rows: str, *needles: str, line: int = 3, header: str = HEADER, good: bool = True) -> Callable:
    def run(d: Drill) -> str:
        engine = d.fresh_db()
        with session_scope(engine) as s:
            s.add_all(
                [
                    Customer(display_name="Acme"),
                    Customer(display_name="Bolt Co"),
                    Item(name="Widget", unit_price=D("20.00")),
                    Item(name="Gadget", unit_price=D("5.00")),
                ]
            )
        text = "\n".join(part for part in (header, GOOD_ROW if good else "", rows) if part) + "\n"
        with session_scope(engine) as s:
            report = import_pricing(s, io.StringIO(text))
        error = "; ".join(f"line {n}: {m}" for n, m in report.errors)
        mine = [m for n, m in report.errors if n == line]
        check(
            mine,
            f"no error reported for line {line} (applied {report.applied} rows, errors: {report.errors or 'none'})",
            error,
        )
        needs(mine[0], needles)
        if good:
            with session_scope(engine) as s:
                prices = s.scalars(
                    sa.select(CustomerItemPrice.unit_price)
                    .join(Customer)
                    .where(CustomerItemPrice.valid_to.is_(None), Customer.display_name == "Acme")
                ).all()
            check(prices == [D("18.50")], f"the good row did not leave exactly one price in force: {prices}", error)
        return error

    return run


def not_utf8_file(d: Drill) -> str:
    path = d.tmp / "excel.csv"
    path.write_bytes(f"{HEADER}\ncustomer_price,Café,,Widget,1.00,,\n".encode("cp1252"))
    try:
        read_pricing_file(path)
    except PricingFileError as error:
        needs(str(error), ["excel.csv", "line 2", "UTF-8"])
        return str(error)
    raise CaseFailed("a cp1252 file was read without complaint", "(no error)")


CSV_CASES = [
    ("unknown customer", bad_csv("customer_price,Nobody,,Widget,1.00,,", "Nobody", "customer list")),
    ("unknown item", bad_csv("customer_price,Bolt Co,,Gizmo,1.00,,", "Gizmo", "item list")),
    ("empty customer cell", bad_csv("customer_price,,,Widget,1.00,,", "customer is empty")),
    ("non-numeric price", bad_csv("customer_price,Bolt Co,,Widget,abc,,", "price", "abc", "not a number")),
    ("decimal comma price", bad_csv('customer_price,Bolt Co,,Widget,"1,50",,', "1,50", "not a number")),
    ("negative price", bad_csv("customer_price,Bolt Co,,Widget,-1.00,,", "price", "negative")),
    (
        "price with eight decimals",
        bad_csv("customer_price,Bolt Co,,Widget,1.99999999,,", "1.99999999", "more than 7 decimals"),
    ),
    (
        "price written like a thousand",
        bad_csv("customer_price,Bolt Co,,Widget,1.250,,", "1.250", "thousands separator"),
    ),
    ("percent out of range", bad_csv("level_percent,,Deep,,,-150,", "-150", "-100")),
    ("unknown kind", bad_csv("refund,Acme,,,,,", "unknown kind", "refund")),
    (
        "valid_from without a time zone",
        bad_csv("customer_price,Bolt Co,,Gadget,3.00,,2026-12-01", "valid_from", "time zone"),
    ),
    ("level_item with both price and percent", bad_csv("level_item,,VIP,Gadget,4.00,10,", "price", "percent")),
    (
        "level kind mismatch",
        bad_csv("level_percent,,Mixed,,,-5,\nlevel_item,,Mixed,Gadget,4.00,,", "Mixed", "FixedPercentage", line=4),
    ),
    ("assignment to a missing level", bad_csv("assignment,Bolt Co,Ghost,,,,", "Ghost", "does not exist")),
    ("missing kind column", bad_csv("Acme,Widget,1.00", "kind", line=1, header="customer,item,price", good=False)),
    ("empty file", bad_csv("", "header", line=1, header="", good=False)),
    (
        "conflicting duplicate rows (same customer, item, valid_from)",
        bad_csv(
            "customer_price,Bolt Co,,Widget,12.00,,2026-01-01T00:00:00+00:00\n"
            "customer_price,Bolt Co,,Widget,13.00,,2026-01-01T00:00:00+00:00",
            "conflicts with line 3",
            line=4,
        ),
    ),
    ("truncated row (would end the price)", bad_csv("customer_price,Acme,,Widget", "4 fields", "header 7")),
    ("assignment without its level cell", bad_csv("assignment,Acme", "2 fields")),
    ("empty price cell (would end the price)", bad_csv("customer_price,Acme,,Widget,,,", "price is empty", "END")),
    (
        "unquoted thousands separator (1,250.00)",
        bad_csv("customer_price,Acme,,Widget,1,250.00,,", "thousands separator"),
    ),
    (
        "unknown header column (unit_price)",
        bad_csv(
            "customer_price,Acme,,Widget,8.00,,",
            "unit_price",
            line=1,
            header="kind,customer,price_level,item,unit_price,percent,valid_from",
            good=False,
        ),
    ),
    ("price 1e30", bad_csv("customer_price,Bolt Co,,Widget,1e30,,", "1e30", "not a number")),
    ("percent with five decimals", bad_csv("level_percent,,Odd,,,-12.34565,", "-12.34565", "four decimals")),
    (
        "past valid_from without --backdate",
        bad_csv("customer_price,Acme,,Widget,9.00,,2026-02-01T00:00:00+00:00", "in the past", "--backdate"),
    ),
    ("a level's percent of END (a percent has no end)", bad_csv("level_percent,,Deep,,,END,", "END", "level_percent")),
    ("a file that is not UTF-8 (Excel's cp1252)", not_utf8_file),
]


# -- malformed or failed QuickBooks answers --------------------------------------------------------

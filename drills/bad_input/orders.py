"""Malformed orders: each must end failed or blocked with a reason a person can act on, the good ones beside it invoiced once."""

from collections.abc import Callable

import sqlalchemy as sa

from drills.bad_input.harness import CaseFailed, D, Drill, Raw, check, needs
from qb_pipeline.db.models import (
    Customer,
    Item,
    ItemPrice,
    OrderStatus,
    QBInvoice,
)
from qb_pipeline.db.session import session_scope


def bad_order(status: str, *needles: str, number: str = "BAD-1", setup: Callable | None = None, **order) -> Callable:
    def run(d: Drill) -> str:
        d.fresh()
        if setup:
            setup(d)
        good = [d.add_order("GOOD-1"), d.add_order("GOOD-2", customer=1, lines=[(1, "3", None), (0, "1.5", None)])]
        bad = d.add_order(number, **order)
        d.push()
        row = d.order(bad)
        error = row.status_reason or ""
        check(row.status.value == status, f"bad order is {row.status.value}, expected {status}", error)
        needs(error, needles)
        check(number.strip() not in d.invoices() or not number.strip(), "the bad order got an invoice anyway", error)
        d.check_synced_once(good)
        return error

    return run


def accepted_exactly(**order) -> Callable:
    """Input the product does not refuse: passes when refused with a reason naming a line, or invoiced unaltered."""

    def run(d: Drill) -> str:
        d.fresh()
        good, bad = d.add_order("GOOD-1"), d.add_order("ODD-1", **order)
        d.push()
        row = d.order(bad)
        d.check_synced_once([good])
        if row.status != OrderStatus.SYNCED:
            needs(row.status_reason, ["line"])
            return row.status_reason
        invoice = d.invoices()["ODD-1"][0]
        lines = [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
        check(len(lines) == len(order["lines"]), f"invoice has {len(lines)} lines, the order {len(order['lines'])}")
        for line, (_item, qty, *_rest) in zip(lines, order["lines"], strict=True):
            check(
                D(str(line["SalesItemLineDetail"]["Qty"])) == D(qty),
                f"invoice Qty {line['SalesItemLineDetail']['Qty']} is not the ordered {qty}",
            )
        return f"(accepted: invoiced unaltered as Id {invoice['Id']})"

    return run


def deactivate(model, index: int):
    def setup(d: Drill) -> None:
        with session_scope(d.engine) as s:
            s.get(model, (d.customers if model is Customer else d.items)[index]).active = False

    return setup


def add_rows(*rows):
    def setup(d: Drill) -> None:
        with session_scope(d.engine) as s:
            s.add_all([model(**fields) for model, fields in rows])

    return setup


def no_item_price(d: Drill) -> None:
    with session_scope(d.engine) as s:
        s.get(Item, d.items[2]).unit_price = None
        s.execute(sa.delete(ItemPrice).where(ItemPrice.item_id == d.items[2]))  # nor in its price history


def invoice_in_qbo_for_other_customer(d: Drill) -> None:
    with session_scope(d.engine) as s:
        customer, item = s.get(Customer, d.customers[3]).qb_id, s.get(Item, d.items[0]).qb_id
    d.gateway.create(
        "Invoice",
        {
            "DocNumber": "TAKEN-1",
            "CustomerRef": {"value": customer},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": D("1.00"),
                    "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": D(1), "UnitPrice": D("1.00")},
                }
            ],
        },
        "drill-taken",
    )


def doc_number_taken(d: Drill) -> str:
    d.fresh()
    invoice_in_qbo_for_other_customer(d)
    good, bad = d.add_order("GOOD-1"), d.add_order("TAKEN-1", customer=0)
    d.push()
    d.check_synced_once([good])
    row, taken = d.order(bad), d.invoices()["TAKEN-1"]
    if row.status == OrderStatus.SYNCED:
        invoice = next(i for i in taken if i["Id"] == row.qb_invoice_id)
        with session_scope(d.engine) as s:
            mine = s.get(Customer, d.customers[0]).qb_id
        check(
            invoice["CustomerRef"]["value"] == mine,
            f"order silently linked to invoice {invoice['Id']} of customer "
            f"{invoice['CustomerRef'].get('name')!r} (total {invoice['TotalAmt']}): not this order's customer",
            "(no error: order marked synced)",
        )
        return "(linked to the matching invoice)"
    needs(row.status_reason, ["TAKEN-1"])
    return row.status_reason


def huge_amount(d: Drill) -> str:
    d.fresh()
    good, bad = d.add_order("GOOD-1"), d.add_order("HUGE-1", lines=[(0, "999999999999", "99.99")])
    d.push()
    d.check_synced_once([good])
    row = d.order(bad)
    if row.status == OrderStatus.SYNCED:
        total = d.invoices()["HUGE-1"][0]["TotalAmt"]
        with session_scope(d.engine) as s:
            mirrored = s.scalar(sa.select(QBInvoice.total_amt).where(QBInvoice.doc_number == "HUGE-1"))
        raise CaseFailed(
            f"accepted: ordered 99989999999900.01, QBO answered TotalAmt {total}, mirrored as {mirrored}; "
            "exceeds the MONEY column NUMERIC(14,2) (12 integer digits) and no amount limit is checked",
            "(no error: order synced)",
        )
    needs(row.status_reason, ["amount"])
    return row.status_reason


def two_orders_one_number(d: Drill) -> str:
    """'W-2' (1 unit) and 'W-2 ' (500 units) for one customer: QuickBooks would trim the second to the first."""
    d.fresh()
    first, second = d.add_order("W-2", lines=[(0, "1", None)]), d.add_order("W-2 ", lines=[(0, "500", None)])
    d.push()
    d.check_synced_once([first])
    row = d.order(second)
    check(
        row.status == OrderStatus.FAILED and row.qb_invoice_id is None,
        f"'W-2 ' is {row.status.value}, linked to {row.qb_invoice_id}",
        row.status_reason or "",
    )
    needs(row.status_reason, ["'W-2 '", "space"])
    return row.status_reason


ORDER_CASES = [
    ("no lines", bad_order("failed", "no lines", lines=[])),
    ("unknown customer name", bad_order("failed", "Nobody Ltd", "customer list", customer="Nobody Ltd")),
    ("no customer at all", bad_order("failed", "no customer", customer=None)),
    (
        "ambiguous customer name",
        bad_order(
            "failed",
            "matches 2",
            customer="customer x",
            setup=add_rows((Customer, {"display_name": "Customer X"}), (Customer, {"display_name": "CUSTOMER X"})),
        ),
    ),
    ("unknown item name", bad_order("failed", "line 1", "Gizmo 9000", "item list", lines=[("Gizmo 9000", "1", None)])),
    ("zero quantity", bad_order("failed", "quantity", "greater than zero", lines=[(0, "0", None)])),
    ("negative quantity", bad_order("failed", "quantity", "-3", lines=[(0, "-3", None)])),
    (
        "non-numeric quantity stored raw",
        bad_order("failed", "quantity", "two", "not a number", lines=[(0, Raw("two"), None)]),
    ),
    (
        "infinite quantity stored raw",
        bad_order("failed", "quantity", "not a number", lines=[(0, Raw("Infinity"), None)]),
    ),
    ("non-numeric price stored raw", bad_order("failed", "price", "abc", "not a number", lines=[(0, "1", Raw("abc"))])),
    (
        "price with eight decimals",
        bad_order("failed", "price", "9.99999999", "more than 7 decimals", lines=[(0, "1", "9.99999999")]),
    ),
    ("negative price", bad_order("failed", "price", "negative", lines=[(0, "1", "-5")])),
    (
        "bad third line of three",
        bad_order("failed", "line 3", "quantity", lines=[(0, "1", None), (1, "2", None), (2, "0", None)]),
    ),
    ("blank order number", bad_order("failed", "no order number", number="")),
    ("whitespace-only order number", bad_order("failed", "no order number", number="   ")),
    ("order number over 21 characters", bad_order("failed", "23 characters", "21", number="SO-" + "9" * 20)),
    ("1000 lines on one order", bad_order("failed", "1000 lines", "999", lines=[(0, "1", None)] * 1000)),
    ("inactive customer", bad_order("blocked", "inactive", customer=2, setup=deactivate(Customer, 2))),
    ("inactive item", bad_order("blocked", "line 1", "inactive", lines=[(2, "1", None)], setup=deactivate(Item, 2))),
    (
        "item with no price anywhere",
        bad_order("failed", "line 1", "no price", lines=[(2, "1", None)], setup=no_item_price),
    ),
    (
        "new customer QuickBooks refuses (':' in name)",
        bad_order(
            "blocked",
            "Acme: East",
            "':'",
            customer="Acme: East",
            setup=add_rows((Customer, {"display_name": "Acme: East"})),
        ),
    ),
    (
        "new item without an income account",
        bad_order(
            "blocked",
            "Local Widget",
            "IncomeAccountRef",
            lines=[("Local Widget", "1", None)],
            setup=add_rows((Item, {"name": "Local Widget", "unit_price": D("5.00"), "income_account_qb_id": "999"})),
        ),
    ),
    ("order number used in QuickBooks by another customer's invoice", doc_number_taken),
    ("amount beyond the money columns (huge quantity)", huge_amount),
    ("order number with a trailing space", bad_order("failed", "'W-1 '", "space", number="W-1 ")),
    ("quantity 1e26 stored raw", bad_order("failed", "quantity", "1E+26", "too large", lines=[(0, Raw("1e26"), None)])),
    ("two orders that could claim one invoice ('W-2', 'W-2 ')", two_orders_one_number),
    ("quantity with 7 decimals", accepted_exactly(lines=[(0, "1.1234567", None)])),
    ("duplicate line numbers", accepted_exactly(lines=[(0, "1", None, 1), (1, "2", None, 1)])),
]


# -- customers and items created in our database ---------------------------------------------------

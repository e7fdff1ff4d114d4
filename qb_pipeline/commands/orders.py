"""`qb-pipeline orders`: create an order the way the order-entry app does, and look one up."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import NoReturn

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.commands.common import database, parse_since
from qb_pipeline.db import queries
from qb_pipeline.db.models import Customer, Item, Order, OrderLine, OrderStatus
from qb_pipeline.db.names import name_key
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import (
    UNIT_PRICE_PLACES,
    decimals_written,
    plain_decimal,
    price_text,
    reads_as_thousands,
    utcnow,
)
from qb_pipeline.sync.invoice_draft import MAX_FACTOR, Catalog, OrderRejected, draft_invoice
from qb_pipeline.sync.order_actions import going_again, list_orders, retry_orders, sent_again, unknown_order_numbers
from qb_pipeline.sync.order_money import OrderMoney, money_of_orders, unpaid_orders


@click.group()
def orders() -> None:
    """Orders as the order-entry application writes them (for demos and tests)."""


def _line(text: str) -> tuple[str, Decimal, Decimal | None]:
    """ITEM:QTY[:PRICE], refusing what is wrong whatever QuickBooks holds, in one line (exit 1): a quantity
    that is not a positive number, a price that is not a number of at most seven decimals as written
    (QuickBooks' places for a unit price: 8.00000000 has eight), either past what an order can hold."""

    def refuse(why: str) -> NoReturn:
        raise click.ClickException(f"--line {text!r}: {why}")

    parts = text.rsplit(":", 2)
    if len(parts) < 2 or not parts[0].strip():
        refuse("write ITEM:QTY or ITEM:QTY:PRICE")
    try:
        quantity = Decimal(parts[1])
        price = Decimal(parts[2]) if len(parts) == 3 else None
    except InvalidOperation:
        refuse("quantity and price must be numbers")
    if not quantity.is_finite() or quantity <= 0:
        refuse("quantity must be greater than zero")
    # the decimals as written, not quantize(): trailing zeros count, and 1e30 would overflow quantize
    if price is not None and (not price.is_finite() or price < 0 or decimals_written(price) > UNIT_PRICE_PLACES):
        refuse(f"price must be a number of at most {UNIT_PRICE_PLACES} decimals, not negative")
    if price is not None and reads_as_thousands(price):
        refuse(
            f"price {parts[2]} reads like a number with a thousands separator: write "
            f"{price_text(price.normalize())} for that price, or {plain_decimal(price.scaleb(3))} without the point"
        )
    for what, number in (("quantity", quantity), ("price", price)):
        if number is not None and number >= MAX_FACTOR:
            refuse(f"{what} is too large (at most {MAX_FACTOR - 1})")
    return parts[0], quantity, price


@orders.command("add")
@click.option("--customer", required=True, help="Customer display name.")
@click.option(
    "--line",
    "lines",
    multiple=True,
    required=True,
    metavar="ITEM:QTY[:PRICE]",
    help="An order line; repeat for more. PRICE overrides pricing.",
)
@click.option("--number", default=None, help="Order number (becomes the invoice number). Default: ORD-<time>.")
@click.option("--memo", default=None, help="A note printed on the invoice (QuickBooks' customer memo).")
@click.option(
    "--company",
    default=None,
    metavar="REALM",
    help="The QuickBooks company (realm id) it is invoiced in. Default: the one connected.",
)
def add(customer: str, lines: tuple[str, ...], number: str | None, memo: str | None, company: str | None) -> None:
    """Create a pending order; the sensor turns it into an invoice within seconds."""
    parsed = [_line(text) for text in lines]
    number = number or f"ORD-{utcnow():%y%m%d%H%M%S%f}"[:21]
    engine = database()
    # Without --company the order is unassigned (NULL): the one company connected adopts it (sync/companies.py),
    # so its number must be free in every company.
    same_company = sa.true() if company is None else Order.realm_id == company
    with session_scope(engine) as session:
        if session.scalar(sa.select(Order.id).where(Order.order_number == number, same_company)):
            raise click.ClickException(f"order {number} already exists")
        # An unknown name is accepted (it may exist in QuickBooks and arrive with the next sync), but said;
        # so is one that names two rows, which drafting refuses. Names match by key, as drafting matches them.
        for kind, model, name in [
            ("customer", Customer, customer),
            *(("item", Item, item) for item, _q, _p in parsed),
        ]:
            in_company = () if company is None else (model.realm_id == company,)
            count = session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.name_key == name_key(name), *in_company)
            )
            if not count:
                click.echo(
                    f"warning: no {kind} {name!r} here yet: the order waits until a sync brings it in "
                    "from QuickBooks, or fails with a reason",
                    err=True,
                )
            elif count > 1:
                click.echo(
                    f"warning: {kind} {name!r} names {count} {kind}s here (names match whatever their case or "
                    "Unicode form): the order fails with a reason until one of them is renamed",
                    err=True,
                )
        session.add(
            Order(
                realm_id=company,
                order_number=number,
                customer_name=customer,
                memo=memo,
                lines=[
                    OrderLine(line_number=n, item_name=item, quantity=qty, unit_price=price)
                    for n, (item, qty, price) in enumerate(parsed, start=1)
                ],
            )
        )
    click.echo(number)


def _shown(value) -> str:
    return str(plain_decimal(value)) if isinstance(value, Decimal) else str(value)


SOURCES = {"order": "explicit", "customer": "customer price", "price_level": "price level", "item": "item price"}


COMPANY_OF_ORDER = click.option(
    "--company", default=None, metavar="REALM", help="The order's company (needed when two have that number)."
)


@orders.command("show")
@click.argument("number")
@COMPANY_OF_ORDER
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(number: str, company: str | None, as_json: bool) -> None:
    """An order: each line priced (unit price, amount, where the price comes from), its total, where it
    stands on its way to QuickBooks, and once invoiced its invoice's balance: paid (on which date), partly
    paid, open, voided or deleted in QuickBooks."""
    with session_scope(database()) as session:
        in_company = () if company is None else (Order.realm_id == company,)
        found = session.scalars(sa.select(Order).where(Order.order_number == number, *in_company)).all()
        if not found:
            raise click.ClickException(f"no order {number}" + (f" in company {company}" if company else ""))
        if len(found) > 1:
            held_by = ", ".join(sorted(order.realm_id or "none yet" for order in found))
            raise click.ClickException(
                f"{len(found)} companies have an order {number} ({held_by}): name one with --company REALM"
            )
        data = _order_shown(session, found[0])
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _echo_order(data)


def _order_shown(session: Session, order: Order) -> dict:
    """What `orders show` says of an order: its lines priced as drafting prices them, when it can."""
    try:
        draft = draft_invoice(session, order)
    except OrderRejected:
        draft = None  # its reason is the order's status_reason
    lines = [
        {
            "item": line.item_name or line.item_id,
            "quantity": _shown(line.quantity),
            "unit_price": None if line.unit_price is None else _shown(line.unit_price),
            "amount": None,
            "price_source": None if line.unit_price is None else "explicit",
        }
        for line in order.lines
    ]
    if draft is not None:
        for shown, drafted in zip(lines, draft.lines, strict=True):  # a drafted line per order line
            shown.update(
                item=drafted.item.name,
                unit_price=price_text(drafted.unit_price),
                amount=str(drafted.amount),
                price_source=SOURCES.get(drafted.price_source, drafted.price_source),
            )
    return {
        "order_number": order.order_number,
        "customer": draft.customer.display_name if draft else (order.customer_name or order.customer_id),
        "status": order.status.value,
        "reason": order.status_reason,
        "attempts": order.attempts,
        "next_attempt_at": order.next_attempt_at.isoformat() if order.next_attempt_at else None,
        "total": str(draft.total) if draft else None,
        "invoiced_total": str(order.invoiced_total) if order.invoiced_total is not None else None,
        "qb_invoice_id": order.qb_invoice_id,
        "qb_invoice_state": order.qb_invoice_state,
        **money_of_orders(session, [order]).get(order.id, OrderMoney(None)).as_dict(),
        "lines": lines,
    }


def _echo_order(data: dict) -> None:
    click.echo(
        f"{data['order_number']}  {data['customer']}  {data['status']}"
        + (f"  invoice {data['qb_invoice_id']}" if data["qb_invoice_id"] else "")
        + (f" ({data['qb_invoice_state']} in QuickBooks)" if data["qb_invoice_state"] else "")
    )
    if data["reason"]:
        click.echo(f"  reason: {data['reason']}")
    if data["invoice_state"]:
        click.echo(f"  invoice: {_money_shown(data)}")
    for line in data["lines"]:
        priced = f" @ {line['unit_price']} = {line['amount']} ({line['price_source']})" if line["unit_price"] else ""
        click.echo(f"  {line['item']} × {line['quantity']}{priced}")
    if data["total"]:
        click.echo(
            f"  total {data['total']}"
            + (
                f" (invoiced at {data['invoiced_total']})"
                if data["invoiced_total"] and data["invoiced_total"] != data["total"]
                else ""
            )
        )


def _money_shown(data: dict) -> str:
    """ "paid on 2026-12-01 (total 19.90)", "partly paid: 9.90 of 19.90 to pay", "voided in QuickBooks"…"""
    state, total, balance = data["invoice_state"], data["invoice_total"], data["invoice_balance"]
    if state == "paid":
        return f"paid on {data['paid_on'] or 'a date not mirrored'} (total {total})"
    if state in ("open", "partly paid"):
        return f"{state}: {balance} of {total} to pay"
    if state in ("voided", "deleted"):
        return f"{state} in QuickBooks (never sent again without a person deciding)"
    return state


@orders.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in OrderStatus]),
    help="Only these statuses (repeat for more).",
)
@click.option("--since", default=None, help="Only orders created since: an age (6h, 2d) or a date-time.")
@click.option(
    "--limit", default=200, show_default=True, type=click.IntRange(1, 100_000), help="At most this many orders."
)
@click.option("--unpaid", is_flag=True, help="Only orders whose invoice has a balance left (open or partly paid).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(statuses: tuple[str, ...], since: str | None, limit: int, unpaid: bool, as_json: bool) -> None:
    """Orders, newest first: customer, total, status, its invoice's balance, and why one did not go through.

    The total is the invoice's once sent, else the order priced now ("not priced" while it cannot be)."""
    with session_scope(database()) as session:
        since_at = parse_since(since, utcnow()) if since else None
        listed = (
            unpaid_orders(session, since=since_at, limit=limit)
            if unpaid
            else list_orders(session, statuses=[OrderStatus(s) for s in statuses], since=since_at, limit=limit)
        )
        catalog = Catalog(session, listed)  # a few queries for every order listed
        money = money_of_orders(session, listed)
        found = [
            {
                "order_number": o.order_number,
                "status": o.status.value,
                "created_at": o.created_at.isoformat(),
                "customer": o.customer_name or o.customer_id,
                "total": _total(session, o, catalog),
                "reason": o.status_reason,
                "qb_invoice_id": o.qb_invoice_id,
                **money.get(o.id, OrderMoney(None)).as_dict(),
            }
            for o in listed
        ]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo(
            "no order matches"
            + (f" (status {', '.join(statuses)})" if statuses and not unpaid else "")
            + (" (unpaid)" if unpaid else "")
        )
        return
    for order in found:
        click.echo(
            f"{order['order_number']:<22}{order['status']:<10}{order['created_at'][:16].replace('T', ' ')}  "
            f"{str(order['customer'] or ''):<24.24}{order['total'] or 'not priced':>12}"
            + (f"  invoice {order['qb_invoice_id']}" if order["qb_invoice_id"] else "")
            + (f" {_money_shown(order)}" if order["invoice_state"] else "")
            + (f"\n    {order['reason']}" if order["reason"] and order["status"] != "synced" else "")
        )


def _total(session, order: Order, catalog: Catalog) -> str | None:
    """What the order's invoice carries (or will): the invoiced total once sent, else the order priced now;
    None while it cannot be priced (its reason says why)."""
    if order.invoiced_total is not None:
        return _shown(order.invoiced_total)
    try:
        return str(draft_invoice(session, order, catalog=catalog).total)
    except OrderRejected:
        return None


@orders.command("retry")
@click.argument("numbers", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Every failed or blocked order.")
@click.option("--company", default=None, metavar="REALM", help="Only this company's orders (default: every company's).")
def retry_command(numbers: tuple[str, ...], all_failed: bool, company: str | None) -> None:
    """Send failed or blocked orders again: back to pending, pushed within seconds by the sensor."""
    if not numbers and not all_failed:
        raise click.UsageError("give order numbers, or --all-failed")
    with session_scope(database()) as session:
        unknown = unknown_order_numbers(session, numbers, realm_id=company)
        if unknown:  # a mistyped number: nothing is sent again, nothing is logged
            raise click.ClickException(f"no such order: {', '.join(unknown)} (nothing was sent again)")
        retried, not_retried = retry_orders(session, numbers, all_failed=all_failed, realm_id=company)
        if retried:
            queries.append_sync_log(
                session,
                entity="Orders",
                outcome="SUCCESS",
                processed=len(retried),
                message=sent_again(retried),
            )
    click.echo(going_again(retried))
    if not_retried:
        raise click.ClickException(f"not failed or blocked: {', '.join(not_retried)}")

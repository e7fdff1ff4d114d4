"""`qb-pipeline orders`: create an order the way the order-entry app does, and look one up."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import click
import sqlalchemy as sa

from qb_pipeline.commands.common import database
from qb_pipeline.db.models import Order, OrderLine
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import plain_decimal, utcnow


@click.group()
def orders() -> None:
    """Orders as the order-entry application writes them (for demos and tests)."""


def _line(text: str) -> tuple[str, Decimal, Decimal | None]:
    parts = text.rsplit(":", 2)
    if len(parts) < 2:
        raise click.BadParameter(f"{text!r}: write ITEM:QTY or ITEM:QTY:PRICE", param_hint="--line")
    try:
        if len(parts) == 3:
            return parts[0], Decimal(parts[1]), Decimal(parts[2])
        return parts[0], Decimal(parts[1]), None
    except InvalidOperation:
        raise click.BadParameter(f"{text!r}: quantity and price must be numbers", param_hint="--line") from None


@orders.command("add")
@click.option("--customer", required=True, help="Customer display name.")
@click.option("--line", "lines", multiple=True, required=True, metavar="ITEM:QTY[:PRICE]",
              help="An order line; repeat for more. PRICE overrides pricing.")
@click.option("--number", default=None, help="Order number (becomes the invoice number). Default: ORD-<time>.")
@click.option("--memo", default=None)
def add(customer: str, lines: tuple[str, ...], number: str | None, memo: str | None) -> None:
    """Create a pending order; the sensor turns it into an invoice within seconds."""
    parsed = [_line(text) for text in lines]
    number = number or f"ORD-{utcnow():%y%m%d%H%M%S%f}"[:21]
    engine = database()
    with session_scope(engine) as session:
        if session.scalar(sa.select(Order.id).where(Order.order_number == number)):
            raise click.ClickException(f"order {number} already exists")
        session.add(Order(order_number=number, customer_name=customer, memo=memo, lines=[
            OrderLine(line_number=n, item_name=item, quantity=qty, unit_price=price)
            for n, (item, qty, price) in enumerate(parsed, start=1)]))
    click.echo(number)


@orders.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(number: str, as_json: bool) -> None:
    """An order, its lines and where it stands on its way to QuickBooks."""
    with session_scope(database()) as session:
        order = session.scalars(sa.select(Order).where(Order.order_number == number)).first()
        if order is None:
            raise click.ClickException(f"no order {number}")
        data = {
            "order_number": order.order_number, "customer": order.customer_name or order.customer_id,
            "status": order.status.value, "reason": order.status_reason, "attempts": order.attempts,
            "next_attempt_at": order.next_attempt_at.isoformat() if order.next_attempt_at else None,
            "qb_invoice_id": order.qb_invoice_id, "qb_invoice_state": order.qb_invoice_state,
            "lines": [{"item": line.item_name or line.item_id, "quantity": str(plain_decimal(Decimal(line.quantity))),
                       "price": None if line.unit_price is None else str(plain_decimal(Decimal(line.unit_price)))}
                      for line in order.lines],
        }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['order_number']}  {data['status']}"
               + (f"  invoice {data['qb_invoice_id']}" if data["qb_invoice_id"] else "")
               + (f" ({data['qb_invoice_state']} in QuickBooks)" if data["qb_invoice_state"] else ""))
    if data["reason"]:
        click.echo(f"  reason: {data['reason']}")
    for line in data["lines"]:
        click.echo(f"  {line['item']} × {line['quantity']}" + (f" @ {line['price']}" if line["price"] else ""))

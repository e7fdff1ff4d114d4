"""`qb-pipeline orders edit` and `orders cancel`: act on an order that did not go through (sync/order_edits.py)."""

from __future__ import annotations

import click

from qb_pipeline.commands.common import database
from qb_pipeline.commands.orders import _line as parse_line
from qb_pipeline.db import queries
from qb_pipeline.db.names import name_key
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.entities import CUSTOMERS, ITEMS
from qb_pipeline.sync.order_edits import NewLine, OrderNotChangeable, cancel_order, edit_order


@click.command("edit")
@click.argument("number")
@click.option("--customer", default=None, help="The customer's display name, as in QuickBooks.")
@click.option(
    "--line",
    "lines",
    multiple=True,
    metavar="ITEM:QTY[:PRICE]",
    help="The order's lines, all of them (they replace the old ones); repeat for more. PRICE overrides pricing.",
)
@click.option("--memo", default=None, help="A new memo ('' removes it).")
@click.option("--company", default=None, metavar="REALM", help="The order's company, when two have its number.")
def edit(number: str, customer: str | None, lines: tuple[str, ...], memo: str | None, company: str | None) -> None:
    """Correct an order not sent yet (pending, failed or blocked); a failed or blocked one goes again.

    Refused once the order is on its way or in QuickBooks. The old and new values go to the activity log."""
    if customer is None and not lines and memo is None:
        raise click.UsageError("say what changes: --customer, --line (every line) or --memo")
    new_lines = [NewLine(*parse_line(text)) for text in lines] if lines else None
    with session_scope(database()) as session:
        try:
            change = edit_order(session, number, customer=customer, lines=new_lines, memo=memo, realm_id=company)
        except OrderNotChangeable as refused:
            raise click.ClickException(str(refused)) from None
        unknown = _unknown_names(session, customer, [line.item_name for line in new_lines or ()])
    if not change.changes:
        click.echo(f"order {number} already says that: nothing changed")
        return
    click.echo(change.message)
    for kind, name in unknown:
        click.echo(
            f"warning: no {kind} {name!r} here yet: add it in QuickBooks, or the order fails again with that reason",
            err=True,
        )


@click.command("cancel")
@click.argument("number")
@click.option("--reason", required=True, help="Why, for the activity log and `orders show`.")
@click.option("--company", default=None, metavar="REALM", help="The order's company, when two have its number.")
def cancel(number: str, reason: str, company: str | None) -> None:
    """Cancel an order not sent yet: it is never sent, and no longer counts as failed.

    Refused once the order is on its way or in QuickBooks (void the invoice there instead)."""
    if not reason.strip():
        raise click.UsageError("--reason must say why")
    with session_scope(database()) as session:
        try:
            message = cancel_order(session, number, reason.strip(), realm_id=company)
        except OrderNotChangeable as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(message)


def _unknown_names(session, customer: str | None, items: list[str]) -> list[tuple[str, str]]:
    """The names just written that no customer or item here carries (yet)."""
    unknown: list[tuple[str, str]] = []
    for entity, names in ((CUSTOMERS, [customer] if customer else []), (ITEMS, items)):
        known = queries.known_name_keys(session, entity.model, {name_key(name) for name in names})
        unknown += [(entity.word, name) for name in dict.fromkeys(names) if name_key(name) not in known]
    return unknown

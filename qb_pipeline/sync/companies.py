"""Rows that name no company yet (NULL `realm_id`): given the company when it is the only one connected.

The order-entry app and a one-company user never set a company: their orders, customers, items and price
levels come in unassigned, and every pull, push and pricing entry point calls `adopt_unassigned` first.
When the company being run is the only one holding a token, it adopts them, so that from there on every
query simply filters `realm_id == realm`. With several companies connected nobody can tell whose they
are: a due unassigned order fails with a reason a person can act on; the other rows are left and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.db.models import Customer, InvoiceBatch, Item, Order, OrderStatus, PriceLevel
from qb_pipeline.db.queries import claimable_orders
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_store import connected_realms
from qb_pipeline.db.types import utcnow

# Each adopted table, and the columns that must stay unique within a company: a row whose values a row of
# the company already holds is left unassigned (a person must say which is which) rather than clash.
ADOPTED: dict[type, tuple[tuple[str, ...], ...]] = {
    Customer: (("qb_id",),),
    Item: (("qb_id",),),
    PriceLevel: (("name",), ("name_key",)),
    Order: (("order_number",), ("qb_invoice_id",)),
    InvoiceBatch: (),
}


@dataclass
class Adoption:
    """What `adopt_unassigned` did: rows adopted and rows left unassigned, by table; orders failed."""

    adopted: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    failed_orders: list[str] = field(default_factory=list)

    def news(self) -> str | None:
        """What a person should hear of it (a run's log line), or None when there is nothing to say."""
        parts = [f"{table}: {n} adopted by this company" for table, n in self.adopted.items() if n]
        parts += [f"{table}: {n} naming no company" for table, n in self.left.items()]
        if self.failed_orders:
            parts.append(f"orders failed for naming no company: {', '.join(self.failed_orders[:10])}")
        return "; ".join(parts) or None


def adopt_for(engine: sa.Engine, realm_id: str, progress: Callable[[str], None] = lambda _message: None) -> Adoption:
    """`adopt_unassigned` in its own transaction, what it did told to `progress`: what a pull's, push's or
    pricing run's start calls."""
    with session_scope(engine) as session:
        adoption = adopt_unassigned(session, realm_id)
    if news := adoption.news():
        progress(news)
    return adoption


class CompanyNeeded(ValueError):
    """Several companies are connected and the caller named none."""


def company_of(session: Session, realm_id: str | None) -> str | None:
    """The company a run without a gateway (a pricing import, the drop folder) works for, its unassigned rows
    adopted first: `realm_id` when given, else the one connected; None when none is connected yet (a database
    prepared before connecting: its rows are all unassigned, NULL). Several connected and none named: refused."""
    realm_id = company_named(session, realm_id)
    if realm_id is not None:
        adopt_unassigned(session, realm_id)
    return realm_id


def company_named(session: Session, realm_id: str | None) -> str | None:
    """`company_of` without adopting anything (for a reader): `realm_id`, else the one connected, else None."""
    if realm_id is not None:
        return realm_id
    realms = connected_realms(session)
    if len(realms) > 1:
        raise CompanyNeeded(
            f"{len(realms)} QuickBooks companies are connected ({', '.join(sorted(realms))}): "
            "name the one this is for (--company REALM)"
        )
    return next(iter(realms), None)


def in_company(model: type, realm_id: str | None) -> sa.ColumnElement[bool]:
    """`model`'s rows of company `realm_id` (None: the rows not assigned to one)."""
    return model.realm_id.is_(None) if realm_id is None else model.realm_id == realm_id


def answered_for_by(model: type, realm_id: str | None) -> sa.ColumnElement[bool]:
    """The rows company `realm_id`'s checks and pages count: its own, and those naming no company yet (which
    every company shows: the next sync, or a person, gives them one). None, or a table with no company column
    (an entity registered without one), every row."""
    if realm_id is None or not hasattr(model, "realm_id"):
        return sa.true()
    return sa.or_(model.realm_id == realm_id, model.realm_id.is_(None))


def adopt_unassigned(session: Session, realm_id: str) -> Adoption:
    """Give unassigned rows to `realm_id` when it is the only company connected (or none is yet: a first
    run stores its token as it starts); otherwise fail the due
    unassigned orders with a reason and count what is left. Call it before anything reads by company."""
    realms = connected_realms(session)
    adoption = Adoption()
    if realms <= {realm_id}:  # none yet: the gateway running is about to store the first token
        for model, unique in ADOPTED.items():
            adoption.adopted[model.__tablename__] = _adopt(session, model, unique, realm_id)
        # Left behind: the company already has an order of that number (or linked to that invoice).
        adoption.failed_orders = _fail_unassigned_orders(session, CLASHING_ORDER)
    else:
        adoption.failed_orders = _fail_unassigned_orders(session, unassigned_reason(realms))
    for model in ADOPTED:
        left = session.scalar(sa.select(sa.func.count()).select_from(model).where(model.realm_id.is_(None)))
        if left:
            adoption.left[model.__tablename__] = left
    return adoption


def _adopt(session: Session, model: type, unique: tuple[tuple[str, ...], ...], realm_id: str) -> int:
    table = model.__table__
    held = table.alias("held")
    clashes = [
        sa.exists().where(held.c.realm_id == realm_id, *(held.c[column] == table.c[column] for column in columns))
        for columns in unique
    ]
    statement = (
        sa.update(table)
        .where(table.c.realm_id.is_(None), *(~clash for clash in clashes))
        .values(realm_id=realm_id)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount or 0


def unassigned_reason(realms: set[str]) -> str:
    return (
        f"the order names no company and {len(realms)} are connected ({', '.join(sorted(realms))}): set its "
        "realm_id to one of them in the order-entry app, or enter it with `qb-pipeline orders add --company "
        "REALM`; then `qb-pipeline orders retry NUMBER`"
    )


CLASHING_ORDER = (
    "the order names no company, and the one connected already has an order of this number: give this one "
    "another number (`qb-pipeline orders edit`), or cancel it"
)


def _fail_unassigned_orders(session: Session, reason: str) -> list[str]:
    """Due orders naming no company fail, waiting for a person (no retry time: it would fail again)."""
    due = sa.and_(Order.realm_id.is_(None), claimable_orders())
    numbers = sorted(session.scalars(sa.select(Order.order_number).where(due)))
    if numbers:
        session.execute(
            sa.update(Order)
            .where(due)
            .values(
                status=OrderStatus.FAILED,
                status_reason=reason,
                next_attempt_at=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    return numbers

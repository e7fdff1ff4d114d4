"""How an order names the records it needs (its customer, each line's item) until the name resolves to one
of our rows, and which of those names no row of ours carries yet: what an invoices run pulls for first,
and what lets an order that failed on an unknown name go again. Each entity orders name declares its
`NamedInOrders` in the entity registry (sync/entities.py); these queries are built from it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from qb_pipeline.db import queries
from qb_pipeline.db.models import Order
from qb_pipeline.db.names import name_key


@dataclass(frozen=True)
class NamedInOrders:
    """The columns of an order (or of its lines) that name one record: the name as the order-entry app wrote
    it, and the link set once that name resolves."""

    name: InstrumentedAttribute
    link: InstrumentedAttribute

    def mentions(self, order: Order) -> list[tuple[int | None, str | None]]:
        """(link, name) of each mention in `order` (loaded with its lines when they hold the name)."""
        holders = [order] if self.name.class_ is Order else order.lines
        return [(getattr(holder, self.link.key), getattr(holder, self.name.key)) for holder in holders]

    def unresolved_names(self, *conditions: sa.ColumnElement[bool]) -> sa.Select:
        """The distinct names not linked yet in the orders meeting `conditions`."""
        query = sa.select(self.name).where(self.link.is_(None), self.name.is_not(None), *conditions).distinct()
        return query if self.name.class_ is Order else query.join_from(self.name.class_, Order)


def names_not_mirrored(session: Session, model: type, named: NamedInOrders, *conditions) -> set[str]:
    """The keys of the names orders meeting `conditions` give records of `model` that no row carries yet."""
    keys = {name_key(name) for name in session.scalars(named.unresolved_names(*conditions))}
    return keys - queries.known_name_keys(session, model, keys)

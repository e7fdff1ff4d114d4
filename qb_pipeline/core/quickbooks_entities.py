"""The QuickBooks entities we read or write, as QuickBooks knows them, declared once: the name used in
queries, CDC, batch and URLs; the field that holds a record's unique name; whether the entity has an
`Active` flag (then a query must ask for inactive records too, or it silently leaves them out).
The database side of each (model, columns, converters) is in sync/entities.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuickBooksEntity:
    name: str
    name_field: str | None = None  # the unique name QuickBooks enforces (a duplicate is refused)
    has_active: bool = False


CUSTOMER = QuickBooksEntity("Customer", name_field="DisplayName", has_active=True)
ITEM = QuickBooksEntity("Item", name_field="Name", has_active=True)
ACCOUNT = QuickBooksEntity("Account", name_field="Name", has_active=True)  # looked up, never synced
INVOICE = QuickBooksEntity("Invoice")
PAYMENT = QuickBooksEntity("Payment")

QUICKBOOKS_ENTITIES = {entity.name: entity for entity in (CUSTOMER, ITEM, ACCOUNT, INVOICE, PAYMENT)}


def entity_named(name: str) -> QuickBooksEntity:
    """The entity QuickBooks calls `name` (one we do not declare has no name field and no Active flag)."""
    return QUICKBOOKS_ENTITIES.get(name) or QuickBooksEntity(name)

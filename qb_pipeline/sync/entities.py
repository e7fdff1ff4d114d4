"""Each QuickBooks entity we sync, declared once: its QuickBooks side (core/quickbooks_entities.py), our
table and the column holding its name, how a QuickBooks record becomes our row and our row a
QuickBooks body, and the Dagster asset that syncs it. Pull, push, the queries, the checks and the
webhook sensor all read it from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qb_pipeline.core import quickbooks_entities as quickbooks
from qb_pipeline.core.quickbooks_entities import QuickBooksEntity
from qb_pipeline.db.models import Customer, Item, QBInvoice
from qb_pipeline.sync.records import customer_payload, customer_row, invoice_row, item_payload, item_row


@dataclass(frozen=True)
class SyncedEntity:
    quickbooks: QuickBooksEntity
    model: type
    asset: str  # the asset that syncs it
    name_column: str | None = None  # our column holding QuickBooks' unique name (name lists)
    to_row: Callable[..., dict] | None = None  # QuickBooks record → our row
    to_payload: Callable[..., dict] | None = None  # our row → QuickBooks body (what we create or update)

    @property
    def name(self) -> str:
        return self.quickbooks.name

    def name_of(self, row) -> str:
        return getattr(row, self.name_column)


CUSTOMERS = SyncedEntity(
    quickbooks.CUSTOMER, Customer, "customers", "display_name", to_row=customer_row, to_payload=customer_payload
)
ITEMS = SyncedEntity(quickbooks.ITEM, Item, "items", "name", to_row=item_row, to_payload=item_payload)
INVOICES = SyncedEntity(quickbooks.INVOICE, QBInvoice, "invoices", to_row=invoice_row)

NAME_LISTS = {entity.name: entity for entity in (CUSTOMERS, ITEMS)}  # synced both ways, by name
SYNCED = {entity.name: entity for entity in (CUSTOMERS, ITEMS, INVOICES)}
# What a change notification of each QuickBooks entity makes us pull (a payment changes invoice balances).
ASSET_FOR_NOTIFIED = {**{name: entity.asset for name, entity in SYNCED.items()}, quickbooks.PAYMENT.name: "invoices"}

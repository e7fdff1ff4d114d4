"""The entity registry: each QuickBooks entity we sync, declared once, with everything that varies by entity.

An entry holds its QuickBooks side (core/quickbooks_entities.py: name, name field, Active flag, the codes
of a name taken), our table (whose name column db/models.py declares), how a QuickBooks record becomes our row
and our row a QuickBooks body, how orders name one, what a pull does beyond mirroring rows (items: their
price history and merges), and its Dagster asset. Pull, push, the assets, their checks and jobs, the
webhook sensor, `status` and the "names not mirrored yet" queries are all built from these entries, so
mirroring one more entity (payments, credit memos) is one entry plus its converter (and its table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from qb_pipeline.core import quickbooks_entities as quickbooks
from qb_pipeline.core.quickbooks_entities import QuickBooksEntity
from qb_pipeline.db.mirror_rows import mirror_key
from qb_pipeline.db.models import NAME_COLUMNS, Customer, Item, Order, OrderLine, QBInvoice
from qb_pipeline.db.order_names import NamedInOrders
from qb_pipeline.db.receivables import QBCreditMemo, QBPayment
from qb_pipeline.sync.item_prices import prices_held, record_item_prices
from qb_pipeline.sync.merged_items import record_merged_items
from qb_pipeline.sync.records import (
    credit_memo_row,
    customer_payload,
    customer_row,
    invoice_row,
    item_payload,
    item_row,
    payment_row,
)


def _nothing(*_args) -> None:
    return None


def _no_news(*_args) -> list[str]:
    return []


@dataclass(frozen=True)
class PullHooks:
    """What a pull of one entity does beyond mirroring its rows; by default, nothing."""

    # Before a page is written: what after_page must know of the rows held (ours, by QuickBooks Id) as they were.
    before_page: Callable[[dict[str, Any]], Any] = _nothing
    # After it is written: (session, the page's changed rows by QuickBooks Id, what before_page kept, the pull's
    # start, the company).
    after_page: Callable[[Session, dict[str, dict], Any, datetime, str], None] = _nothing
    # After the last page: (session, the Ids QuickBooks reported deleted, the pull's start, the company) →
    # sentences for the activity log.
    after_pull: Callable[[Session, list[str], datetime, str], list[str]] = _no_news


@dataclass(frozen=True)
class SyncedEntity:
    quickbooks: QuickBooksEntity
    model: type
    asset: str  # the Dagster asset that syncs it
    word: str  # one record, in a person's words ("customer")
    to_row: Callable[..., dict]  # QuickBooks record (and, kept per company, the company's id) → our row
    to_payload: Callable[..., dict] | None = None  # our row → QuickBooks body; None: mirrored, never written
    description: str = ""  # its asset's, on the asset's page in the UI
    named_in_orders: NamedInOrders | None = None  # how an order names one (resolved when the order is pushed)
    needs_income_account: bool = False  # one we create needs an income account (QuickBooks' first by default)
    hooks: PullHooks = field(default_factory=PullHooks)
    notified_by: tuple[QuickBooksEntity, ...] = ()  # others whose change notifications make its asset pull too
    own_asset: bool = False  # its asset is written out (assets/invoices.py), not built from this entry

    @property
    def name(self) -> str:
        return self.quickbooks.name

    @property
    def name_column(self) -> str | None:
        """Our column holding QuickBooks' unique name (None: the entity has none)."""
        return NAME_COLUMNS.get(self.model)

    @property
    def words(self) -> str:
        return f"{self.word}s"

    @property
    def label(self) -> str:
        """How the activity log and the run log name its syncs ("Customers")."""
        return self.words.capitalize()

    @property
    def pushed(self) -> bool:
        """Synced both ways: rows made here are created in QuickBooks, local edits sent."""
        return self.to_payload is not None

    @property
    def per_company(self) -> bool:
        """Its rows are kept per QuickBooks company (a QuickBooks Id means nothing without its company)."""
        return "realm_id" in self.model.__table__.c

    @property
    def key_columns(self) -> tuple[str, ...]:
        return mirror_key(self.model)

    @property
    def sync_job(self) -> str:
        """The job that syncs it alone (`qb-pipeline sync`, the UI)."""
        return f"sync_{self.asset}_job"

    def name_of(self, row) -> str:
        return getattr(row, self.name_column)


CUSTOMERS = SyncedEntity(
    quickbooks.CUSTOMER,
    Customer,
    "customers",
    "customer",
    to_row=customer_row,
    to_payload=customer_payload,
    description="QuickBooks customers mirrored in the project database, and local customers pushed to QuickBooks.",
    named_in_orders=NamedInOrders(Order.customer_name, Order.customer_id),
)
ITEMS = SyncedEntity(
    quickbooks.ITEM,
    Item,
    "items",
    "item",
    to_row=item_row,
    to_payload=item_payload,
    description="QuickBooks items (products and services) mirrored, and local items pushed to QuickBooks.",
    named_in_orders=NamedInOrders(OrderLine.item_name, OrderLine.item_id),
    needs_income_account=True,
    hooks=PullHooks(before_page=prices_held, after_page=record_item_prices, after_pull=record_merged_items),
)
INVOICES = SyncedEntity(
    quickbooks.INVOICE,
    QBInvoice,
    "invoices",
    "invoice",
    to_row=invoice_row,
    notified_by=(quickbooks.PAYMENT,),  # a payment changes invoice balances
    own_asset=True,  # orders are pushed first (sync/invoices.py), then invoices mirrored (sync/invoice_mirror.py)
)

# Mirrored only, each by its own asset (assets/receivables.py, sync/receivables_mirror.py): voids and deletes
# kept, a payment's lines as the applications they make (qb_payment_lines).
PAYMENTS = SyncedEntity(
    quickbooks.PAYMENT,
    QBPayment,
    "payments",
    "payment",
    to_row=payment_row,
    description="QuickBooks payments mirrored, with the invoices and credit memos each applies to.",
    own_asset=True,
)
CREDIT_MEMOS = SyncedEntity(
    quickbooks.entity_named("CreditMemo"),
    QBCreditMemo,
    "credit_memos",
    "credit memo",
    to_row=credit_memo_row,
    description="QuickBooks credit memos mirrored: the credit each customer holds and what is left of it.",
    own_asset=True,
)

SYNCED = {entity.name: entity for entity in (CUSTOMERS, ITEMS, INVOICES, PAYMENTS, CREDIT_MEMOS)}
NAME_LISTS = {name: entity for name, entity in SYNCED.items() if entity.pushed}  # synced both ways, by name
NAMED_IN_ORDERS = {name: entity for name, entity in SYNCED.items() if entity.named_in_orders is not None}


def assets_notified_by(name: str) -> set[str]:
    """The assets whose pull a change notification of QuickBooks entity `name` calls for (none: not synced)."""
    return {entity.asset for entity in SYNCED.values() if name == entity.name or name in _names(entity.notified_by)}


def _names(entities: tuple[QuickBooksEntity, ...]) -> set[str]:
    return {entity.name for entity in entities}

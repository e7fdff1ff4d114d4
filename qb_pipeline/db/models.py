"""The project database: SQLAlchemy 2 typed models for the whole data model.

Many QuickBooks companies (realms) in one project database: every table holding QuickBooks data or
per-company state carries `realm_id`, in its primary or unique key (a QuickBooks Id means nothing without
its company). On customers, items, orders, price levels, invoice batches, the activity log and the pricing
import's tables a NULL `realm_id` means "not assigned yet": the order-entry app and a one-company user never
need to set it, and `sync.companies.adopt_unassigned` gives such rows the company when only one is connected.
The pricing children (price_level_percentages, price_level_items, customer_price_levels,
customer_item_prices, item_prices) hang off those rows by integer foreign key and carry no column of their own.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from qb_pipeline.db import names
from qb_pipeline.db.types import MONEY, PERCENT, RAW_PRICE_PLACES, UNIT_PRICE, RawAmount, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class SyncState(str, enum.Enum):
    """Where a customer or item stands against QuickBooks."""

    PENDING = "pending"  # local change not yet in QBO (new row, or edited since the last sync)
    SYNCED = "synced"
    FAILED = "failed"  # QBO refused it; `last_error` says why


class OrderStatus(str, enum.Enum):
    """An order's way to an invoice: pending → pushing → synced, or failed / blocked with a reason; or
    cancelled by a person before it was sent (never sent after)."""

    PENDING = "pending"
    PUSHING = "pushing"  # claimed by one run (claimed_by, claimed_at)
    SYNCED = "synced"
    FAILED = "failed"  # QBO or validation refused it; retried at next_attempt_at if set
    BLOCKED = "blocked"  # a prerequisite (customer, item) cannot exist in QBO yet
    # Stored as a plain string with no CHECK (native_enum=False, no constraint): a new value needs no migration.
    CANCELLED = "cancelled"  # a person's decision, with the reason in status_reason


def _enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    # Stored as plain strings (no native enum type) so migrations stay simple on both dialects.
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def _key_of(name_column: str):
    """The name key as a column default: a Core insert that gives a name and no key gets the name's key
    (ORM writes set it as the name is set, below; the bulk upsert computes it, db/mirror_rows.py)."""

    def default(context) -> str | None:
        name = context.get_current_parameters().get(name_column)
        return None if name is None else names.name_key(name)

    return default


def _name_key_column(name_column: str, *, unique: bool = False):
    # Nullable in the schema: on SQLite, NOT NULL on an added column needs a default (hiding a writer that
    # forgot the key no better than NULL) or a rebuild of tables others reference. Every writer fills it.
    return mapped_column(sa.Text, index=True, unique=unique or None, default=_key_of(name_column))


def realm_column():
    """The company a row belongs to; NULL until it is assigned (see the module's docstring)."""
    return mapped_column(sa.String(32))


def _unique_while_unassigned(table: str, column: str) -> sa.Index:
    """Rows not assigned to a company (NULL, which a unique key with realm_id lets repeat) keep `column`
    unique among themselves: a partial unique index, on SQLite and PostgreSQL alike."""
    unassigned = sa.text("realm_id IS NULL")
    return sa.Index(
        f"uq_{table}_unassigned_{column}", column, unique=True, sqlite_where=unassigned, postgresql_where=unassigned
    )


class QuickBooksLinkMixin:
    """The link from a local row to its QuickBooks record, and its sync state; unique per company."""

    realm_id: Mapped[str | None] = realm_column()
    qb_id: Mapped[str | None] = mapped_column(sa.String(32))
    qb_sync_token: Mapped[str | None] = mapped_column(sa.String(32))
    qb_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    sync_state: Mapped[SyncState] = mapped_column(
        _enum(SyncState, "sync_state"), default=SyncState.PENDING, server_default=SyncState.PENDING.value
    )
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Set by local edits; a row with local_updated_at > synced_at has changes to push.
    local_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Customer(QuickBooksLinkMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (sa.UniqueConstraint("realm_id", "qb_id", name="uq_customers_realm_qb_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(sa.String(500), index=True)
    name_key: Mapped[str | None] = _name_key_column("display_name")  # what orders and pricing match
    company_name: Mapped[str | None] = mapped_column(sa.String(100))
    given_name: Mapped[str | None] = mapped_column(sa.String(100))
    family_name: Mapped[str | None] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    balance: Mapped[Decimal | None] = mapped_column(MONEY)


class Item(QuickBooksLinkMixin, Base):
    __tablename__ = "items"
    __table_args__ = (sa.UniqueConstraint("realm_id", "qb_id", name="uq_items_realm_qb_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), index=True)
    name_key: Mapped[str | None] = _name_key_column("name")
    sku: Mapped[str | None] = mapped_column(sa.String(100))
    item_type: Mapped[str] = mapped_column(sa.String(20), default="Service", server_default="Service")
    description: Mapped[str | None] = mapped_column(sa.Text)
    unit_price: Mapped[Decimal | None] = mapped_column(UNIT_PRICE)  # QuickBooks' UnitPrice, 7 places
    income_account_qb_id: Mapped[str | None] = mapped_column(sa.String(32))
    # Merged into another item in QuickBooks (which deletes this one): when a pull saw it go, and the
    # QuickBooks Id of the item that replaced it when a Merge notification said which (sync/merges.py).
    merged_away_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    merged_into_qb_id: Mapped[str | None] = mapped_column(sa.String(32))


class Order(Base):
    """Written by the order-entry application; the sync only touches the status and claim columns."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_status_next_attempt", "status", "next_attempt_at"),
        sa.UniqueConstraint("realm_id", "order_number", name="uq_orders_realm_order_number"),
        # One invoice, one order: a second order can never be linked to an invoice another order holds.
        sa.UniqueConstraint("realm_id", "qb_invoice_id", name="uq_orders_realm_qb_invoice_id"),
        _unique_while_unassigned("orders", "order_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The company whose invoice it becomes (`orders add --company`); NULL: the one connected (adopted).
    realm_id: Mapped[str | None] = realm_column()
    order_number: Mapped[str] = mapped_column(sa.String(64))  # becomes DocNumber (≤21), unique per company
    # The app names the customer by local id or by display name; the sync resolves either.
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    customer_name: Mapped[str | None] = mapped_column(sa.String(500))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # prices as of this instant
    memo: Mapped[str | None] = mapped_column(sa.Text)

    status: Mapped[OrderStatus] = mapped_column(
        _enum(OrderStatus, "order_status"), default=OrderStatus.PENDING, server_default=OrderStatus.PENDING.value
    )
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the claim's heartbeat, renewed per batch
    # The write-ahead record of the batch that carried this order and whose outcome is not known yet.
    invoice_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoice_batches.id"), index=True)
    # While a send of this order's invoice has no answer: stamped before each send and again when we stop
    # waiting. QuickBooks may still apply that request until QB_REQUEST_LIMIT_SECONDS after it, so no
    # lookup or resend before then. Cleared when QuickBooks answers.
    outcome_unknown_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The company Preferences' SyncToken under which that send found Custom transaction numbers on: a
    # change since means QuickBooks may have numbered the invoice itself, out of reach of our lookup.
    sent_preferences_version: Mapped[str | None] = mapped_column(sa.String(32))
    qb_invoice_id: Mapped[str | None] = mapped_column(sa.String(32))  # unique per company (above)
    # The total of the invoice as we sent it (or found it): what the reconcile check compares with.
    invoiced_total: Mapped[Decimal | None] = mapped_column(MONEY)
    # Set when the linked invoice was voided or deleted in QBO; such an order is never re-pushed silently.
    qb_invoice_state: Mapped[str | None] = mapped_column(sa.String(16))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer | None] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.line_number"
    )


class InvoiceBatch(Base):
    """A batch of invoices recorded before it is sent: which orders, the exact body, and its requestid.

    Any resend of those orders re-sends this body with this requestid first, so QuickBooks can answer
    with its first result instead of creating the invoices again.
    """

    __tablename__ = "invoice_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str | None] = realm_column()  # the company it was sent to
    request_id: Mapped[str] = mapped_column(sa.String(36), unique=True)  # QBO allows ≤36 on /batch
    run_id: Mapped[str] = mapped_column(sa.String(64))
    # {"items": [{"order_id", "bId", "body"}]}, amounts as strings: exactly what was sent.
    payload: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    line_number: Mapped[int] = mapped_column(sa.Integer)
    item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("items.id"))
    item_name: Mapped[str | None] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    quantity: Mapped[Decimal] = mapped_column(RawAmount())
    # An explicit price from the order app overrides pricing. Kept at more places than a unit price has,
    # so that one written with an eighth decimal is refused with a reason rather than rounded by the database.
    unit_price: Mapped[Decimal | None] = mapped_column(RawAmount(12 + RAW_PRICE_PLACES, RAW_PRICE_PLACES))

    order: Mapped[Order] = relationship(back_populates="lines")
    item: Mapped[Item | None] = relationship()


class PriceLevelType(str, enum.Enum):
    """QuickBooks Desktop's two kinds of price level."""

    FIXED_PERCENTAGE = "FixedPercentage"  # the whole list up or down by a percentage
    PER_ITEM = "PerItem"  # a custom price or percentage per item


class PriceLevel(Base):
    __tablename__ = "price_levels"
    __table_args__ = (
        sa.UniqueConstraint("realm_id", "name", name="uq_price_levels_realm_name"),
        # A pricing file names a level by its key, so two levels of one key could never both be used.
        sa.UniqueConstraint("realm_id", "name_key", name="uq_price_levels_realm_name_key"),
        _unique_while_unassigned("price_levels", "name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str | None] = realm_column()
    name: Mapped[str] = mapped_column(sa.String(100))
    name_key: Mapped[str | None] = _name_key_column("name")
    level_type: Mapped[PriceLevelType] = mapped_column(_enum(PriceLevelType, "price_level_type"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The tables whose names are matched by key, and their name column.
NAME_COLUMNS: dict[type[Base], str] = {Customer: "display_name", Item: "name", PriceLevel: "name"}


def _keep_name_key(target, value, _old, _initiator) -> None:
    target.name_key = None if value is None else names.name_key(value)


for _model, _column in NAME_COLUMNS.items():  # the constructor and every rename go through here
    sa.event.listen(getattr(_model, _column), "set", _keep_name_key)


INTERVAL_CHECK = "valid_to IS NULL OR valid_to > valid_from"  # no empty or inverted interval


class ValidityMixin:
    """Pricing history: a change closes the interval in force and opens a new one; intervals of one
    key never overlap (checked by `sync.pricing`, and on PostgreSQL by an exclusion constraint)."""

    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None = still in force
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PriceLevelPercentage(ValidityMixin, Base):
    """A FixedPercentage level's adjustment over time (−10 = ten percent off the item price)."""

    __tablename__ = "price_level_percentages"
    __table_args__ = (sa.CheckConstraint(INTERVAL_CHECK, name="interval"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    price_level_id: Mapped[int] = mapped_column(sa.ForeignKey("price_levels.id"), index=True)
    percent: Mapped[Decimal] = mapped_column(PERCENT)


class PriceLevelItem(ValidityMixin, Base):
    """A PerItem level's rule for one item: a custom price, or a percentage of the item price."""

    __tablename__ = "price_level_items"
    __table_args__ = (
        sa.CheckConstraint("(custom_price IS NULL) <> (custom_percent IS NULL)", name="price_or_percent"),
        sa.CheckConstraint(INTERVAL_CHECK, name="interval"),
        sa.Index("ix_price_level_items_level_item", "price_level_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    price_level_id: Mapped[int] = mapped_column(sa.ForeignKey("price_levels.id"))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"))
    custom_price: Mapped[Decimal | None] = mapped_column(UNIT_PRICE)
    custom_percent: Mapped[Decimal | None] = mapped_column(PERCENT)


class CustomerPriceLevel(ValidityMixin, Base):
    """Which price level a customer is assigned to, over time."""

    __tablename__ = "customer_price_levels"
    __table_args__ = (sa.CheckConstraint(INTERVAL_CHECK, name="interval"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    price_level_id: Mapped[int] = mapped_column(sa.ForeignKey("price_levels.id"))


class CustomerItemPrice(ValidityMixin, Base):
    """A customer's own price for one item, over time. `source` says who set it (import, learned…)."""

    __tablename__ = "customer_item_prices"
    __table_args__ = (
        sa.Index("ix_customer_item_prices_customer_item", "customer_id", "item_id"),
        sa.CheckConstraint(INTERVAL_CHECK, name="interval"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"))
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE)
    source: Mapped[str] = mapped_column(sa.String(20), default="manual", server_default="manual")


class ItemPrice(ValidityMixin, Base):
    """An item's QuickBooks UnitPrice over time, from every pull: an order is priced as of its own time."""

    __tablename__ = "item_prices"
    __table_args__ = (sa.CheckConstraint(INTERVAL_CHECK, name="interval"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"), index=True)
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE)


class QBInvoice(Base):
    """Mirror of a QuickBooks invoice, including voided and deleted ones."""

    __tablename__ = "qb_invoices"
    __table_args__ = (sa.UniqueConstraint("realm_id", "qb_id", name="uq_qb_invoices_realm_qb_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str] = mapped_column(sa.String(32))
    qb_id: Mapped[str] = mapped_column(sa.String(32))
    doc_number: Mapped[str | None] = mapped_column(sa.String(21), index=True)
    customer_qb_id: Mapped[str | None] = mapped_column(sa.String(32))
    txn_date: Mapped[str | None] = mapped_column(sa.String(10))  # QBO's calendar date, YYYY-MM-DD
    due_date: Mapped[str | None] = mapped_column(sa.String(10))  # DueDate, YYYY-MM-DD: A/R aging ages from it
    total_amt: Mapped[Decimal | None] = mapped_column(MONEY)
    balance: Mapped[Decimal | None] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open, paid, voided, deleted
    qb_sync_token: Mapped[str | None] = mapped_column(sa.String(32))
    qb_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lines: Mapped[list | None] = mapped_column(sa.JSON)  # [{item_qb_id, qty, unit_price, amount}] as strings
    marked_order: Mapped[str | None] = mapped_column(sa.String(64))  # the order our PrivateNote marker names
    qb_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # MetaData.CreateTime
    mirrored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class QBToken(Base):
    """OAuth tokens per realm, encrypted at rest (the columns hold ciphertext only)."""

    __tablename__ = "qb_tokens"

    realm_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    access_token_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    refresh_token_encrypted: Mapped[str] = mapped_column(sa.Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The refresh token's hard end (Intuit: five years from consent), as the token answer told it.
    refresh_hard_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The company's "Custom transaction numbers" as last read from its preferences (a metered read made
    # by each invoice push: the connection check reports this instead of reading them again each hour).
    keeps_invoice_numbers: Mapped[bool | None] = mapped_column(sa.Boolean)
    preferences_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who may refresh now, until when: refreshes are serialized without holding a database lock over
    # the HTTP call to Intuit (an expired lease is free again, so a process that died cannot block).
    refresh_lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    refresh_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SyncCursor(Base):
    """Per entity, the instant the last incremental pull covered (advanced only after a commit)."""

    __tablename__ = "sync_cursors"

    realm_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    covered_until: Mapped[datetime] = mapped_column(UTCDateTime())
    full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SyncLog(Base):
    """The activity log, kept QB_LOG_RETENTION_DAYS (30) days."""

    __tablename__ = "sync_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str | None] = realm_column()  # the company the run served (NULL: none, or before 0017)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    entity: Mapped[str] = mapped_column(sa.String(32), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # SUCCESS, PARTIAL, FAILED
    processed: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    message: Mapped[str] = mapped_column(sa.Text)
    run_id: Mapped[str | None] = mapped_column(sa.String(64))
    duration_seconds: Mapped[float | None] = mapped_column(sa.Float)
    api_calls: Mapped[int | None] = mapped_column(sa.Integer)  # QuickBooks calls the run made
    retries: Mapped[int | None] = mapped_column(sa.Integer)


class WebhookEvent(Base):
    """A QuickBooks change notification, stored as it arrived (one row per event; a redelivery adds none)."""

    __tablename__ = "qb_webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # CloudEvents `id`, or realm|entity|id|operation|lastUpdated for the legacy format
    event_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    realm_id: Mapped[str] = mapped_column(sa.String(32))
    entity: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str] = mapped_column(sa.String(32))
    operation: Mapped[str] = mapped_column(sa.String(16))  # created, updated, deleted, voided, merged
    merged_away_id: Mapped[str | None] = mapped_column(sa.String(32))  # a merge's `deletedid`: the record gone
    occurred_at: Mapped[str | None] = mapped_column(sa.String(40))  # as QuickBooks wrote it
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    run_id: Mapped[str | None] = mapped_column(sa.String(64))  # the run whose pull served it


# Tables kept in their own modules; importing them here puts them in Base.metadata.
from qb_pipeline.db import api_calls, companies, pricing_imports, receivables, report_tables  # noqa: E402,F401

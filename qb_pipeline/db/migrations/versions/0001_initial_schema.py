"""Initial schema: the whole data model of the architecture doc.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 12:27:37.812748

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=500), nullable=False),
        sa.Column("company_name", sa.String(length=100), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=30), nullable=True),
        sa.Column("balance", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("qb_id", sa.String(length=32), nullable=True),
        sa.Column("qb_sync_token", sa.String(length=32), nullable=True),
        sa.Column("qb_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "sync_state",
            sa.Enum("pending", "synced", "failed", name="sync_state", native_enum=False, length=16),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("local_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("qb_id", name=op.f("uq_customers_qb_id")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_display_name"), ["display_name"], unique=False)

    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=True),
        sa.Column("item_type", sa.String(length=20), server_default="Service", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("income_account_qb_id", sa.String(length=32), nullable=True),
        sa.Column("qb_id", sa.String(length=32), nullable=True),
        sa.Column("qb_sync_token", sa.String(length=32), nullable=True),
        sa.Column("qb_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "sync_state",
            sa.Enum("pending", "synced", "failed", name="sync_state", native_enum=False, length=16),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("local_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("qb_id", name=op.f("uq_items_qb_id")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_items_name"), ["name"], unique=False)

    op.create_table(
        "price_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "level_type",
            sa.Enum("FixedPercentage", "PerItem", name="price_level_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_levels")),
        sa.UniqueConstraint("name", name=op.f("uq_price_levels_name")),
    )
    op.create_table(
        "qb_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("qb_id", sa.String(length=32), nullable=False),
        sa.Column("doc_number", sa.String(length=21), nullable=True),
        sa.Column("customer_qb_id", sa.String(length=32), nullable=True),
        sa.Column("txn_date", sa.String(length=10), nullable=True),
        sa.Column("total_amt", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("balance", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("qb_sync_token", sa.String(length=32), nullable=True),
        sa.Column("qb_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=True),
        sa.Column("mirrored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qb_invoices")),
        sa.UniqueConstraint("realm_id", "qb_id", name="uq_qb_invoices_realm_qb_id"),
    )
    with op.batch_alter_table("qb_invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qb_invoices_doc_number"), ["doc_number"], unique=False)

    op.create_table(
        "qb_tokens",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", name=op.f("pk_qb_tokens")),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("covered_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("full_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "entity", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("processed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_log")),
    )
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_log_entity"), ["entity"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_log_logged_at"), ["logged_at"], unique=False)

    op.create_table(
        "customer_item_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("source", sa.String(length=20), server_default="manual", nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_item_prices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_customer_item_prices_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_item_prices")),
    )
    with op.batch_alter_table("customer_item_prices", schema=None) as batch_op:
        batch_op.create_index("ix_customer_item_prices_customer_item", ["customer_id", "item_id"], unique=False)

    op.create_table(
        "customer_price_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("price_level_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_price_levels_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["price_level_id"], ["price_levels.id"], name=op.f("fk_customer_price_levels_price_level_id_price_levels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_price_levels")),
    )
    with op.batch_alter_table("customer_price_levels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_price_levels_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("customer_name", sa.String(length=500), nullable=True),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "pushing", "synced", "failed", "blocked", name="order_status", native_enum=False, length=16
            ),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qb_invoice_id", sa.String(length=32), nullable=True),
        sa.Column("qb_invoice_state", sa.String(length=16), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_number", name=op.f("uq_orders_order_number")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_orders_status_next_attempt", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "price_level_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("price_level_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("custom_price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("custom_percent", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(custom_price IS NULL) <> (custom_percent IS NULL)", name=op.f("ck_price_level_items_price_or_percent")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_price_level_items_item_id_items")),
        sa.ForeignKeyConstraint(
            ["price_level_id"], ["price_levels.id"], name=op.f("fk_price_level_items_price_level_id_price_levels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_level_items")),
    )
    with op.batch_alter_table("price_level_items", schema=None) as batch_op:
        batch_op.create_index("ix_price_level_items_level_item", ["price_level_id", "item_id"], unique=False)

    op.create_table(
        "price_level_percentages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("price_level_id", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Numeric(precision=9, scale=4), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["price_level_id"], ["price_levels.id"], name=op.f("fk_price_level_percentages_price_level_id_price_levels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_level_percentages")),
    )
    with op.batch_alter_table("price_level_percentages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_level_percentages_price_level_id"), ["price_level_id"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("item_name", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_order_lines_item_id_items")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))

    op.drop_table("order_lines")
    with op.batch_alter_table("price_level_percentages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_level_percentages_price_level_id"))

    op.drop_table("price_level_percentages")
    with op.batch_alter_table("price_level_items", schema=None) as batch_op:
        batch_op.drop_index("ix_price_level_items_level_item")

    op.drop_table("price_level_items")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_next_attempt")
        batch_op.drop_index(batch_op.f("ix_orders_created_at"))

    op.drop_table("orders")
    with op.batch_alter_table("customer_price_levels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_price_levels_customer_id"))

    op.drop_table("customer_price_levels")
    with op.batch_alter_table("customer_item_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_item_prices_customer_item")

    op.drop_table("customer_item_prices")
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_log_logged_at"))
        batch_op.drop_index(batch_op.f("ix_sync_log_entity"))

    op.drop_table("sync_log")
    op.drop_table("sync_cursors")
    op.drop_table("qb_tokens")
    with op.batch_alter_table("qb_invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qb_invoices_doc_number"))

    op.drop_table("qb_invoices")
    op.drop_table("price_levels")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_name"))

    op.drop_table("items")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_display_name"))

    op.drop_table("customers")

"""The entity registry is the one place an entity is declared: mirroring QuickBooks payments takes one entry
plus its converter (and a table), and the asset, its pulls (full, then CDC), the activity log and the webhook
routing follow from that entry with no other change to the package."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from quickbooks.objects.customer import Customer as QuickBooksCustomer
from quickbooks.objects.payment import Payment as QuickBooksPayment
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qb_pipeline.assets.name_lists import entity_asset
from qb_pipeline.core.quickbooks_entities import PAYMENT
from qb_pipeline.db.models import SyncLog
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import MONEY, UTCDateTime
from qb_pipeline.sync import entities
from qb_pipeline.sync.entities import SyncedEntity
from qb_pipeline.sync.records import money, parse_instant
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company


class ToyBase(DeclarativeBase):  # not the project's metadata: no migration, no other test sees the table
    pass


class MirroredPayment(ToyBase):
    __tablename__ = "toy_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    qb_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    qb_sync_token: Mapped[str | None] = mapped_column(sa.String(32))
    qb_updated_at = mapped_column(UTCDateTime())
    customer_qb_id: Mapped[str | None] = mapped_column(sa.String(32))
    total_amt: Mapped[Decimal | None] = mapped_column(MONEY)


def payment_row(record: dict) -> dict:
    """The converter: a QuickBooks Payment as the columns `toy_payments` mirrors."""
    return {
        "qb_id": str(record["Id"]),
        "qb_sync_token": str(record.get("SyncToken", "0")),
        "qb_updated_at": parse_instant((record.get("MetaData") or {}).get("LastUpdatedTime")),
        "customer_qb_id": (record.get("CustomerRef") or {}).get("value"),
        "total_amt": money(record.get("TotalAmt")),
    }


PAYMENTS = SyncedEntity(
    PAYMENT, MirroredPayment, "payments", "payment", to_row=payment_row, description="QuickBooks payments mirrored."
)


@pytest.fixture
def payments_registered(monkeypatch):
    """The one entry, registered."""
    monkeypatch.setitem(entities.SYNCED, PAYMENTS.name, PAYMENTS)


def receive_payment(qb, customer: QuickBooksCustomer, amount: str) -> None:
    """A payment received in QuickBooks (by python-quickbooks, as a QuickBooks user's app would)."""
    payment = QuickBooksPayment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = Decimal(amount)
    payment.save(qb=qb)


def mirrored(engine) -> dict[str, tuple[str, Decimal]]:
    with session_scope(engine) as session:
        rows = session.scalars(sa.select(MirroredPayment)).all()
        return {row.qb_id: (row.customer_qb_id, row.total_amt) for row in rows}


def in_quickbooks(sandbox) -> dict[str, tuple[str, Decimal]]:
    """The sandbox's own record of its payments: what the mirror must hold."""
    return {
        record["Id"]: (record["CustomerRef"]["value"], Decimal(str(record["TotalAmt"])))
        for record in sandbox.dump("Payment")["records"]
    }


def metadata_of(result) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(PAYMENTS.asset)[0].metadata.items()}


def test_one_registry_entry_and_its_converter_mirror_payments(sandbox, resources, engine, payments_registered):
    ToyBase.metadata.create_all(engine)  # its table
    qb = sandbox.qb_client()
    customer = QuickBooksCustomer()
    customer.DisplayName = "Payer"
    customer = customer.save(qb=qb)
    receive_payment(qb, customer, "15.00")
    receive_payment(qb, customer, "7.25")
    payments = entity_asset(PAYMENTS)

    first = materialize_company([payments], resources=resources)
    assert mirrored(engine) == in_quickbooks(sandbox) and len(mirrored(engine)) == 2
    assert (metadata_of(first)["pull_mode"], metadata_of(first)["new_from_quickbooks"]) == ("full", 2)

    receive_payment(qb, customer, "0.10")
    second = materialize_company([payments], resources=resources)
    assert mirrored(engine) == in_quickbooks(sandbox) and len(mirrored(engine)) == 3
    assert (metadata_of(second)["pull_mode"], metadata_of(second)["new_from_quickbooks"]) == ("cdc", 1)
    with session_scope(engine) as session:
        assert [(row.entity, row.outcome) for row in session.scalars(sa.select(SyncLog).order_by(SyncLog.id))] == [
            ("PAYMENTS", "SUCCESS"),
            ("PAYMENTS", "SUCCESS"),
        ]


def test_a_payment_notification_pulls_the_payments_and_the_invoices_they_pay(payments_registered):
    # Invoices declare that payments change them (their balances); payments now have an asset of their own.
    assert entities.assets_notified_by(PAYMENTS.name) == {"payments", "invoices"}
    assert entities.assets_notified_by("Vendor") == set()  # not synced: its notifications are skipped

"""The real python-quickbooks and intuit-oauth clients, unmodified, against the sandbox: CRUD and errors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
    ValidationException,
)
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item

from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_invoice, make_item


def test_a_unit_price_keeps_its_places_and_a_line_amount_is_rounded_half_up_to_the_cent(sandbox):
    """docs/qbo-api.md §9: UnitPrice has seven places, Amount two, Qty × UnitPrice rounded half up."""
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Eighths Buyer"), make_item(qb, "Eighth", "0.125")
    assert Item.get(item.Id, qb=qb).UnitPrice == Decimal("0.125")
    bulk = make_invoice(qb, customer, item, qty="1000", price="0.125", doc_number="E-1", amount=Decimal("125.00"))
    assert bulk.TotalAmt == Decimal("125.00") and bulk.Line[0].SalesItemLineDetail.UnitPrice == Decimal("0.125")
    one = make_invoice(qb, customer, item, qty="1", price="0.1234567", doc_number="E-2", amount=Decimal("0.12"))
    assert one.Line[0].SalesItemLineDetail.UnitPrice == Decimal("0.1234567")
    with pytest.raises(QuickbooksException) as caught:  # 0.125 to the cent is 0.13 (half up), not 0.12 (half even)
        make_invoice(qb, customer, item, qty="1", price="0.125", doc_number="E-3", amount=Decimal("0.12"))
    assert caught.value.error_code == 6070


def test_a_created_customer_has_an_id_a_first_sync_token_and_a_pacific_create_time(sandbox):
    created = make_customer(sandbox.qb_client(), "O'Brien & Sons")
    assert created.Id and created.SyncToken == "0"
    created_at = datetime.fromisoformat(created.MetaData["CreateTime"])  # Pacific time, this date's offset
    assert created_at.utcoffset() == created_at.astimezone(ZoneInfo("America/Los_Angeles")).utcoffset()


def test_a_customer_read_back_and_saved_whole_takes_the_next_sync_token(sandbox):
    qb = sandbox.qb_client()
    read = Customer.get(make_customer(qb, "O'Brien & Sons").Id, qb=qb)
    assert read.DisplayName == "O'Brien & Sons"
    read.CompanyName = "O'Brien Holdings"
    updated = read.save(qb=qb)
    assert updated.SyncToken == "1" and updated.CompanyName == "O'Brien Holdings"


def test_a_sparse_update_changes_only_the_fields_it_sends(sandbox):
    qb = sandbox.qb_client()
    full = Customer.get(make_customer(qb, "O'Brien & Sons").Id, qb=qb)
    full.CompanyName = "O'Brien Holdings"
    updated = full.save(qb=qb)
    sparse = Customer()
    sparse.Id, sparse.SyncToken, sparse.sparse, sparse.GivenName = updated.Id, updated.SyncToken, True, "Pat"
    result = sparse.save(qb=qb)
    assert result.GivenName == "Pat" and result.CompanyName == "O'Brien Holdings"


def test_stale_sync_token_is_5010(sandbox):
    qb = sandbox.qb_client()
    created = make_customer(qb, "Stale Co")
    first, second = Customer.get(created.Id, qb=qb), Customer.get(created.Id, qb=qb)
    first.CompanyName = "A"
    first.save(qb=qb)
    second.CompanyName = "B"
    with pytest.raises(QuickbooksException) as caught:
        second.save(qb=qb)
    assert caught.value.error_code == 5010


@pytest.mark.parametrize(
    ("make", "name", "again"),
    [(make_customer, "Acme", "ACME"), (make_item, "Widget", "widget")],
    ids=["customer", "item"],
)
def test_a_name_taken_in_another_case_is_6240(sandbox, make, name, again):
    qb = sandbox.qb_client()
    make(qb, name)
    with pytest.raises(QuickbooksException) as caught:
        make(qb, again)
    assert caught.value.error_code == 6240


@pytest.mark.parametrize("name, code", [("a" * 501, 2050), ("Bad:Name", 2050), ("", 2020)])
def test_customer_name_rules(sandbox, name, code):
    with pytest.raises(ValidationException) as caught:
        make_customer(sandbox.qb_client(), name)
    assert caught.value.error_code == code


def test_an_item_needs_an_income_account(sandbox):
    bare = Item()
    bare.Name, bare.Type = "No Account", "Service"
    with pytest.raises(ValidationException) as caught:
        bare.save(qb=sandbox.qb_client())
    assert caught.value.error_code == 2020


@pytest.fixture
def buyer_and_thing(sandbox) -> tuple:
    """A python-quickbooks client, a customer "Buyer" and an item "Thing" at 19.99."""
    qb = sandbox.qb_client()
    return qb, make_customer(qb, "Buyer"), make_item(qb, "Thing", "19.99")


def test_an_invoice_totals_its_lines_and_adds_to_the_customers_balance(buyer_and_thing):
    qb, customer, item = buyer_and_thing
    invoice = make_invoice(qb, customer, item, qty="3", price="19.99", doc_number="SO-1")
    assert invoice.TotalAmt == Decimal("59.97") and invoice.Balance == Decimal("59.97")
    assert Customer.get(customer.Id, qb=qb).Balance == Decimal("59.97")


def test_a_second_invoice_with_a_number_taken_is_6140(buyer_and_thing):
    qb, customer, item = buyer_and_thing
    make_invoice(qb, customer, item, doc_number="SO-1")
    with pytest.raises(QuickbooksException) as caught:
        make_invoice(qb, customer, item, doc_number="SO-1")
    assert caught.value.error_code == 6140


def test_an_invoice_number_over_21_characters_is_2050(buyer_and_thing):
    qb, customer, item = buyer_and_thing
    with pytest.raises(QuickbooksException) as caught:
        make_invoice(qb, customer, item, doc_number="X" * 22)
    assert caught.value.error_code == 2050


def test_a_line_amount_that_is_not_quantity_times_price_is_6070(buyer_and_thing):
    qb, customer, item = buyer_and_thing
    with pytest.raises(QuickbooksException) as caught:
        make_invoice(qb, customer, item, qty="2", price="10.00", doc_number="SO-2", amount=Decimal("25.00"))
    assert caught.value.error_code == 6070


def test_a_voided_invoice_stays_with_a_total_of_zero(buyer_and_thing):
    qb, customer, item = buyer_and_thing
    invoice = make_invoice(qb, customer, item, qty="3", price="19.99", doc_number="SO-1")
    voided = Invoice.get(invoice.Id, qb=qb).void(qb=qb)
    assert voided is not None
    assert Invoice.get(invoice.Id, qb=qb).TotalAmt == 0


def test_a_deleted_invoice_is_not_found(buyer_and_thing):
    qb, customer, item = buyer_and_thing
    other = make_invoice(qb, customer, item, doc_number="SO-3")
    Invoice.get(other.Id, qb=qb).delete(qb=qb)
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(other.Id, qb=qb)


def test_customers_cannot_be_deleted_only_made_inactive(sandbox):
    qb = sandbox.qb_client()
    customer = make_customer(qb, "Leaving Ltd")
    with pytest.raises(QuickbooksException) as caught:
        qb.delete_object("Customer", customer.to_json())
    assert caught.value.error_code == 6000
    customer.Active = False
    assert customer.save(qb=qb).Active is False


def test_an_unknown_record_is_not_found(sandbox):
    with pytest.raises(ObjectNotFoundException):
        Customer.get(999999, qb=sandbox.qb_client())


def test_a_revoked_token_is_401(sandbox):
    qb = sandbox.qb_client()
    Customer.get(make_customer(qb, "Before").Id, qb=qb)  # the client's token worked
    sandbox.control("POST", "tokens/revoke")
    with pytest.raises(AuthorizationException):
        Customer.all(qb=qb)

"""Credit memos through python-quickbooks: created, applied to invoices by a payment, voided or deleted
(with the payment or the memo), the invoice and customer balances moving as in QuickBooks; queries,
CDC and webhooks tell of them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment

from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer, make_invoice, make_item
from qb_pipeline_tests.helpers import wait_for
from qb_pipeline_tests.sandbox.receivables import apply_credit, balance_of, cdc_groups, credit_left, credit_memo


def customer_balance(qb, customer) -> Decimal:
    return Decimal(str(Customer.get(customer.Id, qb=qb).Balance))


@pytest.fixture
def credited(sandbox):
    """An invoice of 100.00 and a credit memo of 30.00 for one customer, 20.00 of it applied to the
    invoice: (qb, customer, invoice, memo, the applying payment, when it began)."""
    qb = sandbox.qb_client()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    customer, item = make_customer(qb, "Credited"), make_item(qb, "Widget")
    invoice = make_invoice(qb, customer, item, qty="4", price="25.00")  # 100.00
    memo = credit_memo(qb, customer, item, "30.00")
    payment = apply_credit(qb, customer, invoice, memo, "20.00")
    return qb, customer, invoice, memo, payment, since


def test_a_credit_memo_is_a_credit_the_customer_holds(sandbox):
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Returns"), make_item(qb, "Widget")
    memo = credit_memo(qb, customer, item, "30.00")
    read = CreditMemo.get(memo.Id, qb=qb)
    assert Decimal(str(read.TotalAmt)) == Decimal(str(read.RemainingCredit)) == Decimal(str(read.Balance)) == 30
    assert customer_balance(qb, customer) == Decimal("-30.00")


def test_an_applied_credit_memo_lowers_the_invoice_balance(credited):
    qb, customer, invoice, memo, payment, _since = credited
    assert balance_of(qb, invoice) == Decimal("80.00")
    assert credit_left(qb, memo) == Decimal("10.00")
    assert Decimal(str(payment.TotalAmt)) == 0 and Decimal(str(payment.UnappliedAmt)) == 0
    assert customer_balance(qb, customer) == Decimal("70.00")  # 80.00 owed less 10.00 of credit left


def test_voiding_or_deleting_the_payment_gives_the_invoice_and_the_memo_their_amounts_back(credited):
    qb, customer, invoice, memo, payment, _since = credited
    Payment.get(payment.Id, qb=qb).void(qb=qb)
    assert (balance_of(qb, invoice), credit_left(qb, memo)) == (Decimal("100.00"), Decimal("30.00"))
    again = apply_credit(qb, customer, invoice, memo, "30.00", cash="5.00")
    assert (balance_of(qb, invoice), credit_left(qb, memo)) == (Decimal("65.00"), Decimal("0.00"))
    Payment.get(again.Id, qb=qb).delete(qb=qb)
    assert (balance_of(qb, invoice), credit_left(qb, memo)) == (Decimal("100.00"), Decimal("30.00"))
    assert customer_balance(qb, customer) == Decimal("70.00")


def test_deleting_the_memo_gives_the_invoice_its_balance_back(credited, sandbox):
    qb, customer, invoice, memo, payment, _since = credited
    CreditMemo.get(memo.Id, qb=qb).delete(qb=qb)
    assert balance_of(qb, invoice) == Decimal("100.00")
    assert customer_balance(qb, customer) == Decimal("100.00")
    assert [m["Id"] for m in sandbox.dump("CreditMemo")["deleted"]] == [memo.Id]
    left = Payment.get(payment.Id, qb=qb)  # the payment no longer takes credit from the deleted memo
    assert [link.TxnType for line in left.Line for link in line.LinkedTxn] == []
    assert int(left.SyncToken) == int(payment.SyncToken) + 1


def test_voiding_the_memo_gives_the_invoice_its_balance_back(credited, sandbox):
    qb, customer, invoice, memo, _payment, _since = credited
    current = CreditMemo.get(memo.Id, qb=qb)
    body = {"Id": current.Id, "SyncToken": current.SyncToken}
    answer = api(sandbox, qb, "POST", "creditmemo", params={"operation": "void"}, json=body)
    assert answer.status_code == 200, answer.text
    voided = CreditMemo.get(memo.Id, qb=qb)
    assert (Decimal(str(voided.TotalAmt)), voided.PrivateNote) == (0, "Voided")
    assert balance_of(qb, invoice) == Decimal("100.00")
    assert customer_balance(qb, customer) == Decimal("100.00")


def test_more_credit_than_the_memo_holds_or_the_invoice_owes_is_refused(credited):
    qb, customer, invoice, memo, _payment, _since = credited
    with pytest.raises(QuickbooksException) as caught:
        apply_credit(qb, customer, invoice, memo, "10.01")  # 10.00 left on the memo
    assert caught.value.error_code == 6000
    item = make_item(qb, "Gadget")
    big = credit_memo(qb, customer, item, "500.00")
    with pytest.raises(QuickbooksException) as caught:
        apply_credit(qb, customer, invoice, big, "80.01")  # 80.00 owed
    assert caught.value.error_code == 6000
    assert (balance_of(qb, invoice), credit_left(qb, big)) == (Decimal("80.00"), Decimal("500.00"))


def test_a_memo_applied_cannot_shrink_below_what_is_applied(credited):
    qb, _customer, _invoice, memo, _payment, _since = credited
    current = CreditMemo.get(memo.Id, qb=qb)
    current.Line = [line for line in current.Line if line.DetailType == "SalesItemLineDetail"]
    current.Line[0].Amount, current.Line[0].SalesItemLineDetail.UnitPrice = Decimal("25.00"), Decimal("25.00")
    saved = current.save(qb=qb)  # 20.00 applied, 25.00 total: 5.00 left
    assert (Decimal(str(saved.TotalAmt)), credit_left(qb, memo)) == (Decimal("25.00"), Decimal("5.00"))
    saved.Line = [line for line in saved.Line if line.DetailType == "SalesItemLineDetail"]
    saved.Line[0].Amount, saved.Line[0].SalesItemLineDetail.UnitPrice = Decimal("19.99"), Decimal("19.99")
    with pytest.raises(QuickbooksException) as caught:
        saved.save(qb=qb)
    assert caught.value.error_code == 6000


def test_credit_memos_and_payments_show_in_queries_and_cdc(credited):
    qb, _customer, invoice, memo, payment, since = credited
    assert [m.Id for m in CreditMemo.all(qb=qb)] == [memo.Id]
    assert [p.Id for p in Payment.query("select * from Payment", qb=qb)] == [payment.Id]
    answer = qb.change_data_capture("Invoice,Payment,CreditMemo", since.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    groups = cdc_groups(answer)
    assert [(m["Id"], Decimal(str(m["RemainingCredit"]))) for m in groups["CreditMemo"]] == [(memo.Id, 10)]
    assert [p["Id"] for p in groups["Payment"]] == [payment.Id]
    assert [(i["Id"], Decimal(str(i["Balance"]))) for i in groups["Invoice"]] == [(invoice.Id, 80)]


def test_a_deleted_memo_is_a_tombstone_in_cdc(credited):
    qb, _customer, _invoice, memo, _payment, since = credited
    CreditMemo.get(memo.Id, qb=qb).delete(qb=qb)
    answer = qb.change_data_capture("CreditMemo", since.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    (group,) = answer["CDCResponse"][0]["QueryResponse"]
    assert [(m["Id"], m.get("status")) for m in group["CreditMemo"]] == [(memo.Id, "Deleted")]


@pytest.mark.parametrize("webhook_format", ["cloudevents", "legacy"])
def test_credit_memo_and_payment_changes_are_notified(sandbox, webhook_endpoint, webhook_format):
    sandbox.settings(webhook_format=webhook_format)
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Notified"), make_item(qb, "Widget")
    invoice = make_invoice(qb, customer, item, qty="1", price="50.00")
    memo = credit_memo(qb, customer, item, "10.00")
    payment = apply_credit(qb, customer, invoice, memo, "10.00")
    Payment.get(payment.Id, qb=qb).void(qb=qb)
    CreditMemo.get(memo.Id, qb=qb).delete(qb=qb)
    sentinel = make_customer(qb, "Sentinel")  # events go out in order: once this one is in, all are
    wait_for(lambda: sentinel.Id in {i for _n, i, _o in _changes(webhook_endpoint)}, timeout=10, what="events")
    told = [(name, txn_id, operation) for name, txn_id, operation in _changes(webhook_endpoint) if name != "Customer"]
    assert told == [
        ("Item", item.Id, "created"),
        ("Invoice", invoice.Id, "created"),
        ("CreditMemo", memo.Id, "created"),
        ("Invoice", invoice.Id, "updated"),  # the payment applies the memo to it
        ("CreditMemo", memo.Id, "updated"),
        ("Payment", payment.Id, "created"),
        ("Invoice", invoice.Id, "updated"),  # the void gives both their amounts back
        ("CreditMemo", memo.Id, "updated"),
        ("Payment", payment.Id, "voided"),
        ("CreditMemo", memo.Id, "deleted"),
    ]


def _changes(endpoint) -> list[tuple[str, str, str]]:
    """(entity, id, operation) of every notification received, in either format, in order."""
    legacy = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged"}
    changes = []
    for _headers, body in endpoint.deliveries:
        payload = json.loads(body)
        if isinstance(payload, dict):
            changes += [
                (e["name"], e["id"], legacy[e["operation"]])
                for notification in payload["eventNotifications"]
                for e in notification["dataChangeEvent"]["entities"]
            ]
        else:
            for event in payload:
                _qbo, entity, operation, _version = event["type"].split(".")
                changes.append((_ENTITY_NAMES[entity], event["intuitentityid"], operation))
    return changes


_ENTITY_NAMES = {name.lower(): name for name in ("Customer", "Item", "Invoice", "Payment", "CreditMemo")}


def test_an_invoice_updated_after_it_was_credited_keeps_the_credit(credited):
    qb, customer, invoice, _memo, _payment, _since = credited
    current = Invoice.get(invoice.Id, qb=qb)
    current.Line = [line for line in current.Line if line.DetailType == "SalesItemLineDetail"]
    current.Line[0].SalesItemLineDetail.Qty, current.Line[0].Amount = Decimal("5"), Decimal("125.00")
    current.save(qb=qb)  # 125.00 now, 20.00 of it paid by the memo
    assert balance_of(qb, invoice) == Decimal("105.00")
    assert customer_balance(qb, customer) == Decimal("95.00")  # 105.00 less the memo's 10.00 left


def test_a_merged_customers_credit_memos_name_the_survivor(credited, sandbox):
    qb, customer, _invoice, memo, _payment, _since = credited
    survivor = make_customer(qb, "Survivor")
    sandbox.control("POST", "merge", {"entity": "Customer", "from_id": customer.Id, "into_id": survivor.Id})
    assert CreditMemo.get(memo.Id, qb=qb).CustomerRef.value == survivor.Id

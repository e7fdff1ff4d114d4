"""The sandbox's change notifications: signed like Intuit's, batched, retried, in both formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment
from quickbooks.objects.preferences import Preferences

from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer, make_invoice, make_item, pay
from qb_pipeline_tests.helpers import wait_for


def test_changes_arrive_signed_and_batched_as_cloudevents(sandbox, webhook_endpoint):
    qb = sandbox.qb_client()
    customer = make_customer(qb, "Notified")
    customer.CompanyName = "Notified Inc"
    customer.save(qb=qb)
    wait_for(lambda: len(webhook_endpoint.events()) >= 2, timeout=10, what="the notifications")
    assert len(webhook_endpoint.deliveries) == 1  # both changes fell in one batching window
    headers, body = webhook_endpoint.deliveries[0]
    token = sandbox.control("GET", "connection")["webhook_verifier_token"]
    expected = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()
    assert headers["intuit-signature"] == expected
    events = webhook_endpoint.events()
    assert [e["type"] for e in events] == ["qbo.customer.created.v1", "qbo.customer.updated.v1"]
    assert {e["intuitentityid"] for e in events} == {customer.Id}
    assert {e["intuitaccountid"] for e in events} == {sandbox.realm_id}
    assert all(e["specversion"] == "1.0" and e["id"] and e["time"] for e in events)
    assert len({e["id"] for e in events}) == 2


def test_a_delivery_not_answered_200_is_retried(sandbox, webhook_endpoint):
    webhook_endpoint.answers = [500, 503]
    qb = sandbox.qb_client()
    make_customer(qb, "Retried")
    wait_for(lambda: sandbox.control("GET", "webhooks")["deliveries"] == 1, timeout=20, what="a delivery")
    assert len(webhook_endpoint.deliveries) == 3 and len({body for _h, body in webhook_endpoint.deliveries}) == 1
    assert sandbox.control("GET", "webhooks")["failed_attempts"] == 2


def test_voids_deletes_payments_and_the_legacy_format(sandbox, webhook_endpoint):
    sandbox.settings(webhook_format="legacy")
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Legacy"), make_item(qb, "Thing")
    voided, deleted = (
        make_invoice(qb, customer, item, doc_number="V-1"),
        make_invoice(qb, customer, item, doc_number="D-1"),
    )
    Invoice.get(voided.Id, qb=qb).void(qb=qb)
    Invoice.get(deleted.Id, qb=qb).delete(qb=qb)
    wait_for(
        lambda: (
            sum(
                len(json.loads(b)["eventNotifications"][0]["dataChangeEvent"]["entities"])
                for _h, b in webhook_endpoint.deliveries
            )
            >= 6
        ),
        timeout=10,
        what="the notifications",
    )
    entities = [
        e
        for _h, b in webhook_endpoint.deliveries
        for n in json.loads(b)["eventNotifications"]
        for e in n["dataChangeEvent"]["entities"]
    ]
    assert {n["realmId"] for _h, b in webhook_endpoint.deliveries for n in json.loads(b)["eventNotifications"]} == {
        sandbox.realm_id
    }
    changes = [(e["name"], e["operation"]) for e in entities]
    assert changes == [
        ("Customer", "Create"),
        ("Item", "Create"),
        ("Invoice", "Create"),
        ("Invoice", "Create"),
        ("Invoice", "Void"),
        ("Invoice", "Delete"),
    ]
    assert all(e["id"] and e["lastUpdated"] for e in entities)


def test_payments_and_a_preferences_update_notify(sandbox, webhook_endpoint):
    """A payment's create, void and delete, and a sparse POST of Preferences (an Update of Preferences,
    as Intuit sends), each emit their event."""
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Payer"), make_item(qb, "Thing")
    invoice = make_invoice(qb, customer, item, qty="2", price="10.00")
    voided, deleted = pay(qb, customer, invoice, "5.00"), pay(qb, customer, invoice, "7.00")
    Payment.get(voided.Id, qb=qb).void(qb=qb)
    Payment.get(deleted.Id, qb=qb).delete(qb=qb)
    prefs = Preferences.get(qb=qb)
    answer = api(
        sandbox, qb, "POST", "preferences", json={"SyncToken": prefs.SyncToken, "sparse": True, "TaxPrefs": {}}
    )
    assert answer.status_code == 200, answer.text
    sentinel = make_customer(qb, "Sentinel")  # events go out in order: once this one is in, all are
    wait_for(
        lambda: sentinel.Id in {e["intuitentityid"] for e in webhook_endpoint.events()}, timeout=10, what="the events"
    )
    changes = [
        (e["type"], e["intuitentityid"])
        for e in webhook_endpoint.events()
        if e["type"].startswith(("qbo.payment.", "qbo.preferences."))
    ]
    assert changes == [
        ("qbo.payment.created.v1", voided.Id),
        ("qbo.payment.created.v1", deleted.Id),
        ("qbo.payment.voided.v1", voided.Id),
        ("qbo.payment.deleted.v1", deleted.Id),
        ("qbo.preferences.updated.v1", prefs.Id),
    ]
    # Each payment change moved the invoice's balance: the invoice's new versions are notified too.
    assert [e["type"] for e in webhook_endpoint.events() if e["intuitentityid"] == invoice.Id] == [
        "qbo.invoice.created.v1",
        *["qbo.invoice.updated.v1"] * 4,
    ]


def control_error(sandbox, path: str, payload: dict) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as caught:
        sandbox.control("POST", path, payload)
    return caught.value.code, json.loads(caught.value.read())["error"]


@pytest.fixture
def dup_co_merged(sandbox, webhook_endpoint) -> dict:
    """Customer "Dup Co", with an invoice of 20.00, merged into "Dup Company" as renaming it does in QuickBooks'
    UI: qb, since (a moment before), loser, survivor, invoice, and the sandbox's answer to the merge."""
    qb = sandbox.qb_client()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    loser, survivor, item = make_customer(qb, "Dup Co"), make_customer(qb, "Dup Company"), make_item(qb, "Thing")
    invoice = make_invoice(qb, loser, item, qty="2", price="10.00")
    merged = sandbox.control(
        "POST", "merge", {"entity": "Customer", "from_id": loser.Id, "into_id": survivor.Id}, decimals=True
    )
    return {"qb": qb, "since": since, "loser": loser, "survivor": survivor, "invoice": invoice, "merged": merged}


def test_a_merge_notifies_the_survivor_naming_the_merged_away_record(dup_co_merged, webhook_endpoint):
    """One Merge event for the survivor naming the merged-away record (CloudEvents data.deletedid, Intuit's
    sample); the invoice that now names the survivor is notified as updated."""
    loser, survivor, invoice = dup_co_merged["loser"], dup_co_merged["survivor"], dup_co_merged["invoice"]
    wait_for(
        lambda: any(e["type"] == "qbo.customer.merged.v1" for e in webhook_endpoint.events()),
        timeout=10,
        what="the merge",
    )
    (merge,) = [e for e in webhook_endpoint.events() if e["type"] == "qbo.customer.merged.v1"]
    assert merge["intuitentityid"] == survivor.Id and merge["data"] == {"deletedid": loser.Id}
    assert [e["type"] for e in webhook_endpoint.events() if e["intuitentityid"] == invoice.Id] == [
        "qbo.invoice.created.v1",
        "qbo.invoice.updated.v1",  # it names the survivor now
    ]


def test_a_merge_deletes_the_merged_record_and_moves_its_invoices_and_balance_to_the_survivor(dup_co_merged):
    qb, loser, survivor = dup_co_merged["qb"], dup_co_merged["loser"], dup_co_merged["survivor"]
    merged = dup_co_merged["merged"]
    assert merged["Customer"]["Id"] == survivor.Id and merged["deleted"]["status"] == "Deleted"
    with pytest.raises(QuickbooksException) as caught:
        Customer.get(loser.Id, qb=qb)
    assert caught.value.error_code == 610
    kept = Customer.get(survivor.Id, qb=qb)
    assert Decimal(str(kept.Balance)) == Decimal("20.00") and kept.SyncToken == str(int(survivor.SyncToken) + 1)
    relinked = Invoice.get(dup_co_merged["invoice"].Id, qb=qb)
    assert relinked.CustomerRef.value == survivor.Id and relinked.CustomerRef.name == "Dup Company"
    assert [c.Id for c in Customer.all(qb=qb)] == [survivor.Id]
    answer = qb.change_data_capture("Customer", dup_co_merged["since"].strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    (group,) = answer["CDCResponse"][0]["QueryResponse"]
    assert [(c["Id"], c.get("status")) for c in group["Customer"]] == [(survivor.Id, None), (loser.Id, "Deleted")]


def test_a_merge_quickbooks_would_not_do_is_refused_saying_why(dup_co_merged, sandbox):
    loser, survivor, invoice = dup_co_merged["loser"], dup_co_merged["survivor"], dup_co_merged["invoice"]

    def refused(entity: str, from_id: str, into_id: str) -> tuple[int, str]:
        return control_error(sandbox, "merge", {"entity": entity, "from_id": from_id, "into_id": into_id})

    assert refused("Customer", loser.Id, survivor.Id) == (404, f"Customer {loser.Id} does not exist")
    assert refused("Customer", survivor.Id, survivor.Id) == (400, "a record cannot be merged into itself")
    assert refused("Invoice", invoice.Id, invoice.Id)[0] == 400


def test_an_item_merge_in_the_legacy_format_names_the_merged_item_as_deleted_id(sandbox, webhook_endpoint):
    sandbox.settings(webhook_format="legacy")
    qb = sandbox.qb_client()
    customer, loser, survivor = make_customer(qb, "Buyer"), make_item(qb, "Widget"), make_item(qb, "Widgets")
    invoice = make_invoice(qb, customer, loser)
    sandbox.control("POST", "merge", {"entity": "Item", "from_id": loser.Id, "into_id": survivor.Id})

    def entities() -> list[dict]:
        return [
            e
            for _h, b in webhook_endpoint.deliveries
            for n in json.loads(b)["eventNotifications"]
            for e in n["dataChangeEvent"]["entities"]
        ]

    wait_for(lambda: any(e["operation"] == "Merge" for e in entities()), timeout=10, what="the merge")
    (merge,) = [e for e in entities() if e["operation"] == "Merge"]
    assert (merge["name"], merge["id"], merge["deletedId"]) == ("Item", survivor.Id, loser.Id) and merge["lastUpdated"]
    assert all("deletedId" not in e for e in entities() if e["operation"] != "Merge")
    line = Invoice.get(invoice.Id, qb=qb).Line[0].SalesItemLineDetail
    assert (line.ItemRef.value, line.ItemRef.name) == (survivor.Id, "Widgets")
    assert [i.Id for i in Item.filter(Active=True, qb=qb)] == [survivor.Id]

"""The sandbox's change notifications: signed like Intuit's, batched, retried, in both formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from quickbooks.objects.invoice import Invoice

from qb_pipeline_tests.helpers import wait_for
from qb_pipeline_tests.sandbox.test_conformance_crud import make_customer, make_invoice, make_item


class Receiver:
    """A local endpoint that records every delivery and answers with the statuses it is told to."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []  # statuses to answer first; 200 after them
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/quickbooks/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [event for _headers, body in self.deliveries for event in json.loads(body)]


@pytest.fixture
def receiver(sandbox) -> Iterator[Receiver]:
    receiver = Receiver()
    sandbox.settings(webhook_url=receiver.url, webhook_batch_ms=300)
    yield receiver
    sandbox.settings(webhook_url="")
    receiver.server.shutdown()


def test_changes_arrive_signed_and_batched_as_cloudevents(sandbox, receiver):
    qb = sandbox.qb_client()
    customer = make_customer(qb, "Notified")
    customer.CompanyName = "Notified Inc"
    customer.save(qb=qb)
    wait_for(lambda: len(receiver.events()) >= 2, timeout=10, what="the notifications")
    assert len(receiver.deliveries) == 1  # both changes fell in one batching window
    headers, body = receiver.deliveries[0]
    token = sandbox.control("GET", "connection")["webhook_verifier_token"]
    expected = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()
    assert headers["intuit-signature"] == expected
    events = receiver.events()
    assert [e["type"] for e in events] == ["qbo.customer.created.v1", "qbo.customer.updated.v1"]
    assert {e["intuitentityid"] for e in events} == {customer.Id}
    assert {e["intuitaccountid"] for e in events} == {sandbox.realm_id}
    assert all(e["specversion"] == "1.0" and e["id"] and e["time"] for e in events)
    assert len({e["id"] for e in events}) == 2


def test_a_delivery_not_answered_200_is_retried(sandbox, receiver):
    receiver.answers = [500, 503]
    qb = sandbox.qb_client()
    make_customer(qb, "Retried")
    wait_for(lambda: sandbox.control("GET", "webhooks")["deliveries"] == 1, timeout=20, what="a delivery")
    assert len(receiver.deliveries) == 3 and len({body for _h, body in receiver.deliveries}) == 1
    assert sandbox.control("GET", "webhooks")["failed_attempts"] == 2


def test_voids_deletes_payments_and_the_legacy_format(sandbox, receiver):
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
                for _h, b in receiver.deliveries
            )
            >= 6
        ),
        timeout=10,
        what="the notifications",
    )
    entities = [
        e
        for _h, b in receiver.deliveries
        for n in json.loads(b)["eventNotifications"]
        for e in n["dataChangeEvent"]["entities"]
    ]
    assert {n["realmId"] for _h, b in receiver.deliveries for n in json.loads(b)["eventNotifications"]} == {
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

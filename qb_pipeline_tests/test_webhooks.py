"""The webhook receiver over real HTTP, and quickbooks_changes_sensor: verify, store once, pull once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
import uvicorn

from qb_pipeline.db.models import SyncLog, WebhookEvent
from qb_pipeline.db.session import session_scope
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.webhook_receiver import PATH, receiver_app
from qb_pipeline_tests.helpers import free_port, wait_for

TOKEN, REALM = "verifier-token-for-tests", "4620816365"


def sign(body: bytes, token: str = TOKEN) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def cloud_event(n: int, entity: str = "customer", realm: str = REALM, operation: str = "updated") -> dict:
    return {
        "specversion": "1.0",
        "id": f"evt-{entity}-{n}",
        "source": "intuit",
        "type": f"qbo.{entity}.{operation}.v1",
        "time": "2026-11-26T10:00:00Z",
        "intuitentityid": str(n),
        "intuitaccountid": realm,
        "data": {},
    }


@pytest.fixture
def receiver(engine) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver_app(engine, TOKEN, REALM), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the receiver")
    yield f"http://127.0.0.1:{port}{PATH}"
    server.should_exit = True
    thread.join(10)


def post(url: str, body: bytes, signature: str | None = "sign") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["intuit-signature"] = sign(body)
    elif signature is not None:
        headers["intuit-signature"] = signature
    return requests.post(url, data=body, headers=headers, timeout=10)


def stored(engine) -> list[tuple[str, str, str]]:
    with session_scope(engine) as session:
        return [
            tuple(r)
            for r in session.execute(
                sa.select(WebhookEvent.entity, WebhookEvent.entity_id, WebhookEvent.operation).order_by(WebhookEvent.id)
            )
        ]


def test_signed_events_are_stored_once_and_a_redelivery_adds_nothing(receiver, engine):
    body = json.dumps(
        [
            cloud_event(1),
            cloud_event(2, "invoice", operation="voided"),
            cloud_event(3, "vendor"),
            cloud_event(4, realm="999"),
        ]
    ).encode()
    answer = post(receiver, body)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 2, "duplicates": 0, "skipped": 2}  # a vendor, another company
    assert stored(engine) == [("Customer", "1", "updated"), ("Invoice", "2", "voided")]
    assert post(receiver, body).json() == {"stored": 0, "duplicates": 2, "skipped": 2}  # a redelivery
    assert len(stored(engine)) == 2


def test_the_legacy_format_and_ten_thousand_events_in_one_delivery(receiver, engine):
    entities = [
        {"name": "Item", "id": str(n), "operation": "Update", "lastUpdated": "2026-11-26T10:00:00.000Z"}
        for n in range(10_000)
    ]
    body = json.dumps(
        {"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": entities}}]}, separators=(",", ":")
    ).encode()
    assert len(body) < 1_000_000
    assert post(receiver, body).json()["stored"] == 10_000
    assert stored(engine)[0] == ("Item", "0", "updated")


@pytest.mark.parametrize(
    ("body", "signature", "status"),
    [
        (b"[]", None, 401),  # no signature
        (b"[]", "bad", 401),  # a forged one
        (json.dumps([cloud_event(1)]).encode(), sign(b"another body"), 401),  # signed over another body
        (b'{"not": "json"', "sign", 400),
        (b'{"something": "else"}', "sign", 400),
        (b"\xff\xfe\x00[", "sign", 400),  # not UTF-8
        (b"[" + b" " * 1_100_000 + b"]", "sign", 413),
    ],
)
def test_what_is_not_a_signed_quickbooks_notification_is_refused_and_stores_nothing(
    receiver, engine, body, signature, status
):
    assert post(receiver, body, signature).status_code == status
    assert stored(engine) == []


def test_only_post_is_served(receiver):
    assert requests.get(receiver, timeout=10).status_code == 405


def add_events(engine, *entities: str) -> None:
    with session_scope(engine) as session:
        session.add_all(
            [
                WebhookEvent(
                    event_key=f"k-{n}-{entity}", realm_id=REALM, entity=entity, entity_id=str(n), operation="updated"
                )
                for n, entity in enumerate(entities)
            ]
        )


def tick(database_url, instance, cursor=None):
    from qb_pipeline.definitions import defs

    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"database": DatabaseResource(url=database_url)}
    )
    return defs.get_sensor_def("quickbooks_changes_sensor").evaluate_tick(context)


def test_the_changes_sensor_launches_one_pull_and_marks_events_served_once_it_succeeded(database_url, engine):
    from qb_pipeline.definitions import defs

    with dg.instance_for_test() as instance:
        assert tick(database_url, instance).skip_message == "no QuickBooks change notification is waiting"
        add_events(engine, "Customer", "Customer", "Invoice")
        (request,) = tick(database_url, instance).run_requests
        assert sorted(k.path[-1] for k in request.asset_selection) == ["customers", "invoices"]
        assert request.run_config == {"ops": {"invoices": {"config": {"push_orders": False}}}}
        assert request.tags["qb_pipeline/webhook_events"] == "3"
        job = defs.resolve_job_def("quickbooks_changes_job")
        run = instance.create_run_for_job(job_def=job, tags=request.tags, status=dg.DagsterRunStatus.STARTED)
        add_events(engine, "Item")  # arrives while the pull runs: goes with the next one
        assert "being pulled now" in tick(database_url, instance).skip_message
        instance.report_run_failed(run)
        assert "pulled again shortly" in tick(database_url, instance).skip_message
        with session_scope(engine) as session:
            assert session.scalar(sa.select(sa.func.count()).where(WebhookEvent.processed_at.is_(None))) == 4
        succeeded = instance.create_run_for_job(job_def=job, tags=request.tags, status=dg.DagsterRunStatus.SUCCESS)
        result = tick(database_url, instance)
        (next_request,) = result.run_requests  # the event that came meanwhile
        assert [k.path[-1] for k in next_request.asset_selection] == ["items"]
        assert json.loads(result.cursor) == {"acknowledged": succeeded.run_id}
    with session_scope(engine) as session:
        served = session.scalars(sa.select(WebhookEvent.run_id).where(WebhookEvent.processed_at.is_not(None))).all()
        assert served == [succeeded.run_id] * 3
        assert session.scalars(sa.select(SyncLog.message).where(SyncLog.entity == "WEBHOOKS")).all() == [
            "Pulled what 3 QuickBooks change notifications named"
        ]


def test_a_notification_of_what_a_run_already_mirrored_needs_no_pull(database_url, engine):
    """A push mirrors the invoices it creates; their webhooks then name versions we already hold."""
    from datetime import datetime, timezone

    from qb_pipeline.db.models import QBInvoice

    def event(key: str, invoice_id: str, occurred_at: str, operation: str = "created") -> WebhookEvent:
        return WebhookEvent(
            event_key=key,
            realm_id=REALM,
            entity="Invoice",
            entity_id=invoice_id,
            operation=operation,
            occurred_at=occurred_at,
        )

    with session_scope(engine) as session:
        session.add(  # what the push's mirror wrote: invoice 7 as QuickBooks last changed it at 10:00:05
            QBInvoice(realm_id=REALM, qb_id="7", qb_updated_at=datetime(2026, 11, 26, 10, 0, 5, tzinfo=timezone.utc))
        )
        session.add_all(
            [
                event("created-7", "7", "2026-11-26T02:00:05-08:00"),  # the very version we hold
                event("older-7", "7", "2026-11-26T10:00:01Z"),
                event("newer-7", "7", "2026-11-26T10:00:09Z"),  # changed again since: must be pulled
                event("deleted-7", "7", "2026-11-26T10:00:01Z", operation="deleted"),  # a deletion always is
                event("other-8", "8", "2026-11-26T10:00:01Z"),  # not mirrored at all
            ]
        )
    with dg.instance_for_test() as instance:
        (request,) = tick(database_url, instance).run_requests
        assert request.tags["qb_pipeline/webhook_events"] == "3"
    with session_scope(engine) as session:
        waiting = session.scalars(
            sa.select(WebhookEvent.event_key).where(WebhookEvent.processed_at.is_(None)).order_by(WebhookEvent.id)
        ).all()
        served = session.scalars(sa.select(WebhookEvent.run_id).where(WebhookEvent.processed_at.is_not(None))).all()
    assert waiting == ["newer-7", "deleted-7", "other-8"]
    assert served == ["already-mirrored", "already-mirrored"]


def test_invoice_notifications_wait_for_a_running_push_which_mirrors_invoices(database_url, engine):
    from qb_pipeline.definitions import defs

    add_events(engine, "Invoice")
    with dg.instance_for_test() as instance:
        push = defs.resolve_job_def("push_invoices_job")
        run = instance.create_run_for_job(job_def=push, status=dg.DagsterRunStatus.STARTED)
        assert "wait for the push running now" in tick(database_url, instance).skip_message
        instance.report_run_failed(run)
        assert tick(database_url, instance).run_requests

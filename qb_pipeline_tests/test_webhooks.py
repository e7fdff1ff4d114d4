"""The webhook receiver over real HTTP, and quickbooks_changes_sensor: verify, store once, pull once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from qb_pipeline.db.migrate import upgrade
from qb_pipeline.db.models import QBInvoice, QBToken, SyncLog, WebhookEvent
from qb_pipeline.db.session import make_engine, session_scope
from qb_pipeline.definitions import defs
from qb_pipeline.partitions import partition_tag
from qb_pipeline.webhook_receiver import KEEP_ALIVE_SECONDS, MAX_CONNECTIONS, PATH, REQUEST_SECONDS
from qb_pipeline_tests.fixtures.dagster_runs import tick
from qb_pipeline_tests.fixtures.webhooks import serving, url_of
from qb_pipeline_tests.helpers import wait_for

TOKEN, REALM = "verifier-token-for-tests", "4620816365"
CHANGES_SENSOR = "quickbooks_changes_sensor"


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
    with serving(engine, TOKEN, REALM) as server:
        yield url_of(server)


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


def test_events_of_every_connected_company_are_stored_as_its_own_and_of_no_other(receiver, engine):
    """A company holding a token (connected) is ours as much as the configured one; one that holds none is
    not: its events are skipped, counted, never stored."""
    with session_scope(engine) as session:
        session.add(QBToken(realm_id="777", refresh_token_encrypted="ciphertext"))  # connected: a token
    body = json.dumps([cloud_event(1), cloud_event(2, realm="777"), cloud_event(3, realm="999")]).encode()
    assert post(receiver, body).json() == {"stored": 2, "duplicates": 0, "skipped": 1}
    with session_scope(engine) as session:
        rows = session.execute(sa.select(WebhookEvent.realm_id, WebhookEvent.entity_id).order_by(WebhookEvent.id))
        assert [tuple(row) for row in rows] == [(REALM, "1"), ("777", "2")]


def test_a_delivery_is_acknowledged_before_anything_is_pulled(receiver, engine):
    """Intuit wants its 200 within 3 s: the receiver stores the event and answers; the pull (CDC calls to
    QuickBooks) happens later in a Dagster run. The answer came while the event was still unserved."""
    answer = post(receiver, json.dumps([cloud_event(7)]).encode())
    assert answer.status_code == 200
    with session_scope(engine) as session:
        (event,) = session.scalars(sa.select(WebhookEvent)).all()
        assert (event.entity_id, event.processed_at, event.run_id) == ("7", None, None)


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


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[sa.Engine]:
    """For the connection tests: what they show does not depend on the database."""
    url = f"sqlite:///{tmp_path / 'project.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the receiver has closed this connection, looked at without waiting (a socket with a timeout
    would wait for it first, whatever the flags)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # open, nothing to read
    except ConnectionResetError:
        return True


def closing_times(
    kinds: dict[str, list[socket.socket]], slow: list, slow_body: list, opened: float
) -> dict[int, float]:
    """When the receiver closed each socket (seconds after `opened`, by id), watched until all are closed or
    REQUEST_SECONDS + 5 s have passed. Meanwhile `slow` and `slow_body` send a byte each quarter second
    (a space in a body, a letter in a header): never a whole request."""
    closed_after: dict[int, float] = {}
    while time.monotonic() < opened + REQUEST_SECONDS + 5 and len(closed_after) < sum(map(len, kinds.values())):
        for sock in slow + slow_body:
            if id(sock) not in closed_after:
                try:
                    sock.send(b" " if sock in slow_body else b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed_after[id(sock)] = time.monotonic() - opened
        for sock in (sock for socks in kinds.values() for sock in socks):
            if id(sock) not in closed_after and closed_by_server(sock):
                closed_after[id(sock)] = time.monotonic() - opened
        time.sleep(0.25)
    return closed_after


def test_silent_slow_and_idle_connections_are_closed_and_deliveries_are_still_served(sqlite_engine):
    body = json.dumps([cloud_event(1)]).encode()
    with serving(sqlite_engine, TOKEN, REALM) as server:
        address = ("127.0.0.1", server.config.port)
        kept_alive = []
        for _ in range(5):  # a delivery answered, then the connection left idle
            connection = http.client.HTTPConnection(*address, timeout=10)
            connection.request("POST", PATH, body, {"Content-Type": "application/json", "intuit-signature": sign(body)})
            answer = connection.getresponse()
            assert answer.status == 200 and answer.read()
            kept_alive.append(connection.sock)
        kept_alive, slow_next = kept_alive[:3], kept_alive[3:]  # slow_next: its next request a byte at a time
        opened = time.monotonic()
        silent = [socket.create_connection(address) for _ in range(20)]  # connect, send nothing
        slow_headers = [socket.create_connection(address) for _ in range(3)]  # a header a byte at a time
        slow_body = [socket.create_connection(address) for _ in range(3)]  # whole headers, a body a byte at a time
        for sock in slow_headers + slow_next:
            sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
        slow = json.dumps([cloud_event(2)]).encode()
        for sock in slow_body:
            sock.sendall(
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"intuit-signature: {sign(slow)}\r\nContent-Length: {len(slow)}\r\n\r\n".encode()
            )
        kinds = {
            "kept alive": kept_alive,
            "silent": silent,
            "slow headers": slow_headers,
            "slow body": slow_body,
            "slow next request": slow_next,
        }
        try:
            closed_after = closing_times(kinds, slow_headers + slow_next, slow_body, opened)
            open_still = {
                kind: n for kind, socks in kinds.items() if (n := sum(id(s) not in closed_after for s in socks))
            }
            assert open_still == {}, f"still open {REQUEST_SECONDS + 5} s later"
            assert max(closed_after[id(s)] for s in kept_alive) <= KEEP_ALIVE_SECONDS + 2
            # Each had its REQUEST_SECONDS (a slow but genuine client gets its time), and no more.
            others = [closed_after[id(s)] for s in silent + slow_headers + slow_body + slow_next]
            assert REQUEST_SECONDS - 1 <= min(others) and max(others) <= REQUEST_SECONDS + 3, others
        finally:
            for socks in kinds.values():
                for sock in socks:
                    sock.close()
        assert post(url_of(server), body).status_code == 200  # the receiver serves on
    assert stored(sqlite_engine) == [("Customer", "1", "updated")]  # the slow body was never stored


def test_a_request_beyond_the_connection_limit_is_answered_503_and_the_receiver_serves_on(sqlite_engine):
    body = json.dumps([cloud_event(1)]).encode()
    with serving(sqlite_engine, TOKEN, REALM) as server:
        address, connections = ("127.0.0.1", server.config.port), server.server_state.connections
        idle = [socket.create_connection(address) for _ in range(MAX_CONNECTIONS - 2)]
        try:
            wait_for(lambda: len(connections) == len(idle), timeout=5, what="the receiver to take the connections")
            assert post(url_of(server), body).status_code == 200  # within the limit: served
            idle += [socket.create_connection(address) for _ in range(2)]
            wait_for(
                lambda: len(connections) == MAX_CONNECTIONS, timeout=5, what="the receiver to take the connections"
            )
            refused = post(url_of(server), json.dumps([cloud_event(2)]).encode())
            assert refused.status_code == 503
        finally:
            for sock in idle:
                sock.close()
        wait_for(lambda: not connections, timeout=5, what="the idle connections to go")
        assert post(url_of(server), json.dumps([cloud_event(3)]).encode()).status_code == 200
    assert stored(sqlite_engine) == [("Customer", "1", "updated"), ("Customer", "3", "updated")]


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


def changes_tick(database_url, instance, cursor: str | None = None):
    """One tick of the changes sensor, company REALM (the events' company) having its partition."""
    return tick(CHANGES_SENSOR, database_url, instance, cursor, realms=(REALM,))


def waiting(engine) -> int:
    """From the database: the notifications not served yet."""
    with session_scope(engine) as session:
        return session.scalar(sa.select(sa.func.count()).where(WebhookEvent.processed_at.is_(None)))


def requested_pull(database_url, engine, instance) -> dg.RunRequest:
    """Three notifications waiting (two of customers, one of an invoice), and the pull the sensor asks for."""
    add_events(engine, "Customer", "Customer", "Invoice")
    (request,) = changes_tick(database_url, instance).run_requests
    return request


def pull_run(instance, request: dg.RunRequest, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """The run of the requested pull, as the daemon launched it, in `status`."""
    job = defs.resolve_job_def("quickbooks_changes_job")
    tags = {**request.tags, **partition_tag(request.partition_key)}  # Dagster tags a partition's runs so
    return instance.create_run_for_job(job_def=job, tags=tags, status=status)


def test_the_changes_sensor_skips_while_no_notification_is_waiting(database_url, instance):
    assert changes_tick(database_url, instance).skip_message == "no QuickBooks change notification is waiting"


def test_waiting_notifications_launch_one_pull_of_what_they_name_that_pushes_no_orders(database_url, engine, instance):
    request = requested_pull(database_url, engine, instance)
    assert sorted(k.path[-1] for k in request.asset_selection) == ["customers", "invoices"]
    assert request.run_config == {"ops": {"invoices": {"config": {"push_orders": False}}}}
    assert request.tags["qb_pipeline/webhook_events"] == "3"


def test_no_second_pull_starts_while_one_runs(database_url, engine, instance):
    pull_run(instance, requested_pull(database_url, engine, instance), dg.DagsterRunStatus.STARTED)
    add_events(engine, "Item")  # arrives while the pull runs
    assert "being pulled now" in changes_tick(database_url, instance).skip_message


def test_a_failed_pull_leaves_its_notifications_waiting_and_pulls_again_shortly(database_url, engine, instance):
    run = pull_run(instance, requested_pull(database_url, engine, instance), dg.DagsterRunStatus.STARTED)
    instance.report_run_failed(run)
    assert "pulled again shortly" in changes_tick(database_url, instance).skip_message
    assert waiting(engine) == 3


def test_a_succeeded_pull_marks_its_notifications_served_once_and_logs_them(database_url, engine, instance):
    succeeded = pull_run(instance, requested_pull(database_url, engine, instance), dg.DagsterRunStatus.SUCCESS)
    result = changes_tick(database_url, instance)
    assert json.loads(result.cursor) == {"acknowledged": {REALM: succeeded.run_id}}
    changes_tick(database_url, instance, cursor=result.cursor)  # acknowledged: not served or logged again
    with session_scope(engine) as session:
        served = session.scalars(sa.select(WebhookEvent.run_id).where(WebhookEvent.processed_at.is_not(None))).all()
        assert served == [succeeded.run_id] * 3
        assert session.scalars(sa.select(SyncLog.message).where(SyncLog.entity == "WEBHOOKS")).all() == [
            "Pulled what 3 QuickBooks change notifications named"
        ]


def test_each_company_notified_gets_a_pull_of_its_own_and_its_success_serves_its_events_only(
    database_url, engine, instance
):
    with session_scope(engine) as session:  # the other company's change came first (a lower id)
        session.add(
            WebhookEvent(event_key="other-1", realm_id="777", entity="Item", entity_id="1", operation="updated")
        )
    add_events(engine, "Customer")
    result = tick(CHANGES_SENSOR, database_url, instance, realms=(REALM, "777"))
    requests = {request.partition_key: request for request in result.run_requests}
    assert sorted(requests) == sorted([REALM, "777"])
    assert [k.path[-1] for k in requests["777"].asset_selection] == ["items"]
    assert (
        requests["777"].tags["qb_pipeline/realm"] == "777" and requests["777"].tags["qb_pipeline/webhook_events"] == "1"
    )
    pull_run(instance, requests[REALM], dg.DagsterRunStatus.SUCCESS)  # only our company's pull is done
    tick(CHANGES_SENSOR, database_url, instance, realms=(REALM, "777"))
    with session_scope(engine) as session:
        unserved = session.scalars(sa.select(WebhookEvent.realm_id).where(WebhookEvent.processed_at.is_(None)))
        assert list(unserved) == ["777"]  # the other company's change still waits for its own pull


def test_a_notification_that_arrives_during_a_pull_goes_with_the_next_one(database_url, engine, instance):
    request = requested_pull(database_url, engine, instance)
    add_events(engine, "Item")  # after the sensor asked for the pull: not in it
    pull_run(instance, request, dg.DagsterRunStatus.SUCCESS)
    (next_request,) = changes_tick(database_url, instance).run_requests
    assert [k.path[-1] for k in next_request.asset_selection] == ["items"]
    assert waiting(engine) == 1


def test_a_notification_of_what_a_run_already_mirrored_needs_no_pull(database_url, engine, instance):
    """A push mirrors the invoices it creates; their webhooks then name versions we already hold."""

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
    (request,) = changes_tick(database_url, instance).run_requests
    assert request.tags["qb_pipeline/webhook_events"] == "3"
    with session_scope(engine) as session:
        waiting = session.scalars(
            sa.select(WebhookEvent.event_key).where(WebhookEvent.processed_at.is_(None)).order_by(WebhookEvent.id)
        ).all()
        served = session.scalars(sa.select(WebhookEvent.run_id).where(WebhookEvent.processed_at.is_not(None))).all()
    assert waiting == ["newer-7", "deleted-7", "other-8"]
    assert served == ["already-mirrored", "already-mirrored"]


def test_invoice_notifications_wait_for_a_running_push_which_mirrors_invoices(database_url, engine, instance):
    add_events(engine, "Invoice")
    push = defs.resolve_job_def("push_invoices_job")
    run = instance.create_run_for_job(job_def=push, status=dg.DagsterRunStatus.STARTED, tags=partition_tag(REALM))
    assert "wait for the push running now" in changes_tick(database_url, instance).skip_message
    instance.report_run_failed(run)
    assert changes_tick(database_url, instance).run_requests

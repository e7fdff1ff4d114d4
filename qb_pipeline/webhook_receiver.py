"""`qb-pipeline webhooks serve`: the endpoint QuickBooks POSTs change notifications to.

It verifies the signature, stores each event once and answers 200 at once; it never calls QuickBooks
(the pull happens in a Dagster run, launched by quickbooks_changes_sensor). A body over 1 MB is refused
before it is read whole. The verifier token and the signatures are never logged. SERVER_LIMITS bound what
a client can hold: time to send a request, idle time, connections, header size.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_store import connected_realms
from qb_pipeline.sync.webhook_events import (
    BadDelivery,
    Stored,
    parse_delivery,
    signature_ok,
    store_events,
)

PATH = "/quickbooks/webhooks"
MAX_BODY_BYTES = 1_000_000
log = logging.getLogger("qb_pipeline.webhooks")

# What one client may hold of a receiver that may face the internet (a reverse proxy in front is still
# advised: README). Constants, not settings: Intuit sends small deliveries, whole, and wants its answer
# within seconds, whatever the company or its volume.
REQUEST_SECONDS = 10  # to send a whole request, headers and body, from its connection or its first byte
KEEP_ALIVE_SECONDS = 5  # idle between two requests on one connection (uvicorn's default, said here)
MAX_CONNECTIONS = 100  # open at once; a request that comes when they are all taken is answered 503
MAX_HEADER_BYTES = 16 * 1024  # the request line and headers; a longer request is answered 400


class _RequestDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 (h11), with REQUEST_SECONDS for each request to arrive whole. uvicorn's own
    timeout_keep_alive starts only after a response, and it has no other: a client that connects and sends
    nothing, or sends its request a byte at a time (slowloris), would keep its connection for ever."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline = self.loop.call_later(REQUEST_SECONDS, self._too_slow)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle  # the latest request whose headers came whole
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            self._stop_deadline()  # it came whole: our answer takes the time it takes
        elif self._deadline is None:  # the first bytes of the next request on a kept-alive connection
            self._deadline = self.loop.call_later(REQUEST_SECONDS, self._too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._deadline = None
        self.transport.close()

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


# uvicorn's options for `qb-pipeline webhooks serve`. h11, not httptools: httptools holds headers of any
# size. No WebSocket: an upgraded connection would leave uvicorn's count of connections.
SERVER_LIMITS = {
    "http": _RequestDeadline,
    "ws": "none",
    "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    "limit_concurrency": MAX_CONNECTIONS,
    "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
}


def receiver_app(engine: sa.Engine, verifier_token: str, realm_id: str) -> Starlette:
    """The endpoint: events of `realm_id` (the default company) and of every company connected are stored."""

    async def receive(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse({"error": "the body is over 1 MB"}, status_code=413)
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return JSONResponse({"error": "the body is over 1 MB"}, status_code=413)
        except ClientDisconnect:  # closed before its body came whole (by the client, or for REQUEST_SECONDS)
            log.warning("refused a delivery: the connection closed before its body came whole")
            return JSONResponse({"error": "the body did not come whole"}, status_code=400)  # read by no one
        if not signature_ok(verifier_token, body, request.headers.get("intuit-signature")):
            log.warning("refused a delivery: missing or wrong intuit-signature")
            return JSONResponse({"error": "missing or wrong intuit-signature"}, status_code=401)
        try:
            events = parse_delivery(body)
        except BadDelivery as error:
            log.warning(f"refused a delivery: {error}")
            return JSONResponse({"error": str(error)}, status_code=400)
        stored = await run_in_threadpool(_store, engine, events, realm_id)
        for reason in sorted(set(stored.skipped)):
            log.info(f"skipped {stored.skipped.count(reason)} events: {reason}")
        return JSONResponse({"stored": stored.stored, "duplicates": stored.duplicates, "skipped": len(stored.skipped)})

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


def _store(engine: sa.Engine, events, realm_id: str) -> Stored:
    """Each event stored under its own company when that company is connected (holds a token; `realm_id`,
    the configured one, always is); another company's events are skipped, counted, never stored."""
    stored = Stored()
    with session_scope(engine) as session:
        connected = connected_realms(session) | {realm_id}
        for realm in sorted({event.realm_id for event in events}):
            # a company not connected is compared with one that is: store_events skips its events, saying why
            ours = store_events(
                session, [e for e in events if e.realm_id == realm], realm if realm in connected else realm_id
            )
            stored.stored += ours.stored
            stored.duplicates += ours.duplicates
            stored.skipped += ours.skipped
    return stored

"""`qb-pipeline webhooks serve`: the endpoint QuickBooks POSTs change notifications to.

It verifies the signature, stores each event once and answers 200 at once; it never calls QuickBooks
(the pull happens in a Dagster run, launched by quickbooks_changes_sensor). A body over 1 MB is refused
before it is read whole. The verifier token and the signatures are never logged.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.webhook_events import (
    BadDelivery,
    parse_delivery,
    signature_ok,
    store_events,
)

PATH = "/quickbooks/webhooks"
MAX_BODY_BYTES = 1_000_000
log = logging.getLogger("qb_pipeline.webhooks")


def receiver_app(engine: sa.Engine, verifier_token: str, realm_id: str) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse({"error": "the body is over 1 MB"}, status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse({"error": "the body is over 1 MB"}, status_code=413)
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


def _store(engine: sa.Engine, events, realm_id: str):
    with session_scope(engine) as session:
        return store_events(session, events, realm_id)

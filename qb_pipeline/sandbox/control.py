"""The sandbox's own control API under /_sandbox/ — not part of QuickBooks. See the package docstring."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qb_pipeline.sandbox.merges import merge as merge_records
from qb_pipeline.sandbox.store import dumps, loads


def control_routes(sandbox) -> list[Route]:
    """`sandbox` is the running `Sandbox` (server.py): store, oauth, limiter, faults, api, realm.

    Every route needs `Authorization: Bearer <control_token>` (from connection.json; 401 without it),
    and a request whose Origin is not the sandbox's own is refused (403): a web page open in the
    developer's browser cannot reset, seed or read the sandbox.
    """

    def guarded(endpoint):
        async def check(request: Request) -> Response:
            origin = request.headers.get("origin")
            if origin is not None and origin.rstrip("/") != sandbox.base_url:
                return JSONResponse({"error": "cross-origin requests to the control API are refused"}, status_code=403)
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {sandbox.control_token}".encode()):
                return JSONResponse(
                    {"error": "the control API needs Authorization: Bearer <control_token from connection.json>"},
                    status_code=401,
                )
            return await endpoint(request)

        return check

    async def body(request: Request) -> dict:
        raw = await request.body()
        return loads(raw.decode()) if raw.strip() else {}

    async def reset(request: Request) -> Response:
        options = await body(request)
        sandbox.reset(options.get("seed", "none"))
        return JSONResponse({"ok": True})

    async def seed(request: Request) -> Response:
        options = await body(request)
        try:
            sandbox.seed(
                options.get("preset", "none"),
                customers=int(options.get("customers", 0)),
                items=int(options.get("items", 0)),
            )
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def inject(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.faults.clear()
            return JSONResponse({"ok": True})
        if request.method == "GET":
            return JSONResponse({"active": sandbox.faults.describe(), "injected": sandbox.faults.injected})
        options = await body(request)
        try:
            sandbox.faults.inject(
                options.get("kind", ""),
                count=options.get("count"),
                rate=options.get("rate"),
                path_contains=options.get("path_contains"),
                seconds=options.get("seconds"),
                seed=options.get("seed"),
            )
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def counters(request: Request) -> Response:
        if request.method == "POST":
            sandbox.api.counters.clear()
            sandbox.oauth.token_calls = 0
            sandbox.limiter.most_in_flight = 0
            return JSONResponse({"ok": True})
        return JSONResponse(
            {
                "calls": dict(sandbox.api.counters),
                "token_calls": sandbox.oauth.token_calls,
                "total": sum(sandbox.api.counters.values()),
                "most_in_flight": sandbox.limiter.most_in_flight,
            }
        )

    async def dump(request: Request) -> Response:
        entity = request.path_params["entity"]
        store = sandbox.store
        return Response(
            dumps({"records": store.all(sandbox.realm, entity), "deleted": store.deleted(sandbox.realm, entity)}),
            media_type="application/json",
        )

    async def tokens(request: Request) -> Response:
        action = request.path_params["action"]
        if action == "revoke":
            sandbox.oauth.revoke_all()
        elif action == "expire-access":
            sandbox.oauth.expire_access_tokens()
        elif action == "mint":
            return JSONResponse(sandbox.oauth.mint_tokens(sandbox.realm))
        else:
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        return JSONResponse({"ok": True})

    async def settings(request: Request) -> Response:
        options = await body(request)
        try:
            sandbox.configure(**options)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(sandbox.settings())

    async def merge(request: Request) -> Response:
        """What QuickBooks' UI does when a customer or item is renamed to another's name (the API cannot)."""
        try:
            options = await body(request)
            answer = merge_records(
                sandbox.store,
                sandbox.realm,
                str(options.get("entity", "")),
                options.get("from_id"),
                options.get("into_id"),
            )
        except LookupError as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return Response(dumps(answer), media_type="application/json")

    async def webhooks(_request: Request) -> Response:
        return JSONResponse(sandbox.webhooks.stats)

    async def connection(_request: Request) -> Response:
        return JSONResponse(sandbox.connection())

    routes = [
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/seed", seed, methods=["POST"]),
        Route("/_sandbox/merge", merge, methods=["POST"]),
        Route("/_sandbox/inject", inject, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/counters", counters, methods=["GET", "POST"]),
        Route("/_sandbox/dump/{entity}", dump, methods=["GET"]),
        Route("/_sandbox/tokens/{action}", tokens, methods=["POST"]),
        Route("/_sandbox/settings", settings, methods=["GET", "POST"]),
        Route("/_sandbox/connection", connection, methods=["GET"]),
        Route("/_sandbox/webhooks", webhooks, methods=["GET"]),
    ]
    return [Route(route.path, guarded(route.endpoint), methods=route.methods) for route in routes]

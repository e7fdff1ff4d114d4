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
    control = _Control(sandbox)
    routes = [
        Route("/_sandbox/reset", control.reset, methods=["POST"]),
        Route("/_sandbox/seed", control.seed, methods=["POST"]),
        Route("/_sandbox/merge", control.merge, methods=["POST"]),
        Route("/_sandbox/inject", control.inject, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/counters", control.counters, methods=["GET", "POST"]),
        Route("/_sandbox/dump/{entity}", control.dump, methods=["GET"]),
        Route("/_sandbox/tokens/{action}", control.tokens, methods=["POST"]),
        Route("/_sandbox/settings", control.settings, methods=["GET", "POST"]),
        Route("/_sandbox/connection", control.connection, methods=["GET"]),
        Route("/_sandbox/webhooks", control.webhooks, methods=["GET"]),
    ]
    return [Route(route.path, control.guarded(route.endpoint), methods=route.methods) for route in routes]


async def _body(request: Request) -> dict:
    raw = await request.body()
    return loads(raw.decode()) if raw.strip() else {}


class _Control:
    """The control API's endpoints, one method each, on the running sandbox."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox

    def guarded(self, endpoint):
        sandbox = self.sandbox

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

    async def reset(self, request: Request) -> Response:
        options = await _body(request)
        self.sandbox.reset(options.get("seed", "none"))
        return JSONResponse({"ok": True})

    async def seed(self, request: Request) -> Response:
        options = await _body(request)
        try:
            self.sandbox.seed(
                options.get("preset", "none"),
                customers=int(options.get("customers", 0)),
                items=int(options.get("items", 0)),
            )
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def inject(self, request: Request) -> Response:
        faults = self.sandbox.faults
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({"ok": True})
        if request.method == "GET":
            return JSONResponse({"active": faults.describe(), "injected": faults.injected})
        options = await _body(request)
        try:
            faults.inject(
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

    async def counters(self, request: Request) -> Response:
        sandbox = self.sandbox
        if request.method == "POST":
            sandbox.api.clear_counters()
            sandbox.oauth.token_calls = 0
            sandbox.limiter.most_in_flight = 0
            return JSONResponse({"ok": True})
        return JSONResponse(
            {
                "calls": dict(sandbox.api.counters),
                "token_calls": sandbox.oauth.token_calls,
                "total": sum(sandbox.api.counters.values()),
                "minorversions": dict(sandbox.api.minor_versions),  # as sent; every call is served as 75
                "most_in_flight": sandbox.limiter.most_in_flight,
            }
        )

    async def dump(self, request: Request) -> Response:
        entity = request.path_params["entity"]
        store, realm = self.sandbox.store, self.sandbox.realm
        return Response(
            dumps({"records": store.all(realm, entity), "deleted": store.deleted(realm, entity)}),
            media_type="application/json",
        )

    async def tokens(self, request: Request) -> Response:
        action = request.path_params["action"]
        oauth = self.sandbox.oauth
        if action == "revoke":
            oauth.revoke_all()
        elif action == "expire-access":
            oauth.expire_access_tokens()
        elif action == "mint":
            return JSONResponse(oauth.mint_tokens(self.sandbox.realm))
        elif action == "hard-end":  # {"expires_in": seconds}: every live refresh token's chain ends then
            try:
                oauth.move_hard_end(float((await _body(request))["expires_in"]))
            except (KeyError, TypeError, ValueError):
                return JSONResponse({"error": 'give {"expires_in": seconds}'}, status_code=400)
        else:
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        return JSONResponse({"ok": True})

    async def settings(self, request: Request) -> Response:
        options = await _body(request)
        try:
            self.sandbox.configure(**options)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(self.sandbox.settings())

    async def merge(self, request: Request) -> Response:
        """What QuickBooks' UI does when a customer or item is renamed to another's name (the API cannot)."""
        try:
            options = await _body(request)
            answer = merge_records(
                self.sandbox.store,
                self.sandbox.realm,
                str(options.get("entity", "")),
                options.get("from_id"),
                options.get("into_id"),
            )
        except LookupError as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return Response(dumps(answer), media_type="application/json")

    async def webhooks(self, _request: Request) -> Response:
        return JSONResponse(self.sandbox.webhooks.stats)

    async def connection(self, _request: Request) -> Response:
        return JSONResponse(self.sandbox.connection())

"""The sandbox's own control API under /_sandbox/ — not part of QuickBooks. See the package docstring."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qb_pipeline.sandbox.merges import merge as merge_records
from qb_pipeline.sandbox.store import dumps, loads


def control_routes(sandbox) -> list[Route]:
    """`sandbox` is the running `Sandbox` (server.py): its companies, store, oauth.

    Every company route answers at /_sandbox/<route> for the first company and at
    /_sandbox/companies/{realm}/<route> for any (404 for a realm the sandbox does not serve);
    /_sandbox/companies lists the companies (GET) or adds one (POST).

    Every route needs `Authorization: Bearer <control_token>` (from connection.json; 401 without it),
    and a request whose Origin is not the sandbox's own is refused (403): a web page open in the
    developer's browser cannot reset, seed or read the sandbox.
    """
    control = _Control(sandbox)
    per_company = [
        ("/reset", control.reset, ["POST"]),
        ("/seed", control.seed, ["POST"]),
        ("/merge", control.merge, ["POST"]),
        ("/inject", control.inject, ["GET", "POST", "DELETE"]),
        ("/counters", control.counters, ["GET", "POST"]),
        ("/dump/{entity}", control.dump, ["GET"]),
        ("/tokens/{action}", control.tokens, ["POST"]),
        ("/settings", control.settings, ["GET", "POST"]),
        ("/connection", control.connection, ["GET"]),
        ("/webhooks", control.webhooks, ["GET"]),
    ]
    routes = [Route("/_sandbox/companies", control.companies, methods=["GET", "POST"])]
    for path, endpoint, methods in per_company:
        routes.append(Route(f"/_sandbox{path}", endpoint, methods=methods))
        routes.append(Route(f"/_sandbox/companies/{{realm}}{path}", endpoint, methods=methods))
    return [Route(route.path, control.guarded(route.endpoint), methods=route.methods) for route in routes]


def _company(request: Request):
    """The company a control call is for (checked by `guarded`)."""
    return request.state.company


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
            realm = request.path_params.get("realm")
            if realm is not None and realm not in sandbox.companies:
                return JSONResponse({"error": f"this sandbox has no company {realm}"}, status_code=404)
            request.state.company = sandbox.company(realm)
            return await endpoint(request)

        return check

    async def reset(self, request: Request) -> Response:
        options = await _body(request)
        _company(request).reset(options.get("seed", "none"))
        return JSONResponse({"ok": True})

    async def seed(self, request: Request) -> Response:
        options = await _body(request)
        try:
            _company(request).seed(
                options.get("preset", "none"),
                customers=int(options.get("customers", 0)),
                items=int(options.get("items", 0)),
            )
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def inject(self, request: Request) -> Response:
        faults = _company(request).faults
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
        company, oauth = _company(request), self.sandbox.oauth
        if request.method == "POST":
            company.api.clear_counters()
            oauth.token_calls = 0
            company.limiter.most_in_flight = 0
            return JSONResponse({"ok": True})
        return JSONResponse(
            {
                "calls": dict(company.api.counters),
                "token_calls": oauth.token_calls,  # the app's token endpoint, for every company
                "total": sum(company.api.counters.values()),
                "minorversions": dict(company.api.minor_versions),  # as sent; every call is served as 75
                "most_in_flight": company.limiter.most_in_flight,
            }
        )

    async def dump(self, request: Request) -> Response:
        entity = request.path_params["entity"]
        store, realm = self.sandbox.store, _company(request).realm
        return Response(
            dumps({"records": store.all(realm, entity), "deleted": store.deleted(realm, entity)}),
            media_type="application/json",
        )

    async def tokens(self, request: Request) -> Response:
        action, realm = request.path_params["action"], _company(request).realm
        oauth = self.sandbox.oauth
        if action == "revoke":
            oauth.revoke_all(realm)
        elif action == "expire-access":
            oauth.expire_access_tokens(realm)
        elif action == "mint":
            return JSONResponse(oauth.mint_tokens(realm))
        elif action == "hard-end":  # {"expires_in": seconds}: every live refresh token's chain ends then
            try:
                oauth.move_hard_end(float((await _body(request))["expires_in"]), realm)
            except (KeyError, TypeError, ValueError):
                return JSONResponse({"error": 'give {"expires_in": seconds}'}, status_code=400)
        else:
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        return JSONResponse({"ok": True})

    async def settings(self, request: Request) -> Response:
        options, realm = await _body(request), _company(request).realm
        try:
            self.sandbox.configure(realm, **options)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(self.sandbox.settings(realm))

    async def merge(self, request: Request) -> Response:
        """What QuickBooks' UI does when a customer or item is renamed to another's name (the API cannot)."""
        try:
            options = await _body(request)
            answer = merge_records(
                self.sandbox.store,
                _company(request).realm,
                str(options.get("entity", "")),
                options.get("from_id"),
                options.get("into_id"),
            )
        except LookupError as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return Response(dumps(answer), media_type="application/json")

    async def webhooks(self, request: Request) -> Response:
        return JSONResponse(_company(request).webhooks.stats)

    async def connection(self, request: Request) -> Response:
        return JSONResponse(self.sandbox.connection(_company(request).realm))

    async def companies(self, request: Request) -> Response:
        """GET: the companies, the first the default. POST {"seed", "customers", "items"}: a new company."""
        sandbox = self.sandbox
        if request.method == "POST":
            options = await _body(request)
            preset = options.get("seed", "none")
            if preset not in ("none", "demo"):
                return JSONResponse({"error": f"seed must be demo or none (got {preset!r})"}, status_code=400)
            try:
                customers, items = int(options.get("customers", 0)), int(options.get("items", 0))
            except (TypeError, ValueError):
                return JSONResponse({"error": "customers and items are counts"}, status_code=400)
            company = sandbox.add_company(preset, customers=customers, items=items)
            return JSONResponse(company.describe(), status_code=201)
        return JSONResponse({"companies": [company.describe() for company in sandbox.companies.values()]})

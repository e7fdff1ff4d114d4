"""`qb-pipeline auth connect --serve`: the Reconnect URL Intuit asks apps to register.

QuickBooks sends the person to GET /reconnect?realmId=<company> (from My Apps, or when the connection
is broken); we start the OAuth authorization again, its state bound to that company, and the callback
(QB_REDIRECT_URI's path) stores the new tokens as `auth connect` does. Only this deployment's company is
served: another company's realm is refused, before and after the consent."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksUnavailable
from qb_pipeline.quickbooks.connection import Connection

RECONNECT_PATH = "/reconnect"
STATE_TTL_SECONDS = 600  # as long as Intuit's authorization code lives: a consent left open longer starts again


def _page(text: str, status: int) -> Response:
    return PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


class ReconnectFlow:
    """The pending consents (state → company) and the two pages that begin and end one."""

    def __init__(self, connection: Connection, realm_id: str, on_connected: Callable[[str], None]) -> None:
        self.connection, self.realm_id, self.on_connected = connection, realm_id, on_connected
        self._pending: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()  # one code exchange at a time: the auth client holds its answer

    def begin(self, request: Request) -> Response:
        from intuitlib.enums import Scopes

        # Intuit's name for the company is realmId (its OAuth redirect's); without one, the consent is for
        # our company all the same: the callback stores only tokens of the company the state is bound to.
        realm = request.query_params.get("realmId") or request.query_params.get("realm_id") or self.realm_id
        if realm != self.realm_id:
            return _page(
                f"Refused: this pipeline is connected to QuickBooks company {self.realm_id}, "
                f"not {realm}. Nothing was changed.",
                403,
            )
        state = secrets.token_urlsafe(16)
        with self._lock:
            now = time.monotonic()
            self._pending = {s: v for s, v in self._pending.items() if v[1] > now}
            self._pending[state] = (realm, now + STATE_TTL_SECONDS)
        url = self.connection.auth_client().get_authorization_url([Scopes.ACCOUNTING], state_token=state)
        return RedirectResponse(url, status_code=302)

    def finish(self, request: Request) -> Response:
        params = request.query_params
        with self._lock:
            bound = self._pending.pop(params.get("state", ""), None)
            if bound is None or bound[1] < time.monotonic():
                return _page("Refused: unknown or expired state; open the Reconnect link again.", 400)
            if "code" not in params:
                return _page(f"QuickBooks did not authorize: {params.get('error', 'no code')}", 400)
            if params.get("realmId") != bound[0]:
                return _page(
                    f"Refused: QuickBooks approved company {params.get('realmId')}, "
                    f"not this pipeline's company {bound[0]}. Nothing was stored.",
                    403,
                )
            try:
                tokens = self.connection.exchange_code(params["code"], bound[0])
            except (QuickBooksAuthError, QuickBooksUnavailable) as error:  # their messages hold no secret
                return _page(f"Not connected: {error}. Open the Reconnect link again.", 502)
            self.connection.tokens.save(tokens)
        self.on_connected(tokens.realm_id)
        return _page(f"Connected to QuickBooks company {tokens.realm_id} again: you can close this tab.", 200)

    def app(self, callback_path: str) -> Starlette:
        return Starlette(
            routes=[
                Route(RECONNECT_PATH, self.begin, methods=["GET"]),
                Route(callback_path or "/", self.finish, methods=["GET"]),
            ]
        )

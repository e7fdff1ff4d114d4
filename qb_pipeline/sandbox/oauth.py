"""Intuit-compatible OAuth 2 for the sandbox: discovery, authorize, token, revoke.

Works with the unmodified intuit-oauth client, whose `environment` may be any discovery URL. The
authorization endpoint approves at once. Refresh tokens rotate on every refresh; a superseded one
keeps working for `rotation_grace` seconds (default 30; 0 makes every race visible), then answers
`invalid_grant`. No `id_token` is ever returned. Only SHA-256 hashes of tokens are stored.

Refresh tokens also have a hard end, as Intuit's have since its 2025 policy: `refresh_hard_ttl` seconds
(five years by default) from the consent that began the chain; a rotated token keeps its chain's end, and a
refresh past it answers `invalid_grant`. A token request with the header
`x-include-refresh-token-hard-expires-in: true` gets the seconds left to that end in the answer, under
`x_refresh_token_hard_expires_in` (the name Intuit's own clients read: intuit-oauth 1.2.7, the Java and .NET
SDKs; intuit/oauth-jsclient 4.2.4 first read `x_refresh_token_lifetime_expires_in`, corrected in PR 211).
`hard_expiry_field` may name the other one, so a client can be held to accept both. Without the header
the answer is as before. Unused for `refresh_ttl` seconds (about 100 days), a refresh token dies too.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from qb_pipeline.sandbox.store import private_file

DISCOVERY_PATH = "/.well-known/openid_configuration"
OAUTH_PATHS = (DISCOVERY_PATH, "/oauth2/", "/v2/oauth2/")  # where injected faults reach the OAuth endpoints
ACCESS_TTL, REFRESH_TTL = 3600, 8_726_400
REFRESH_HARD_TTL = 5 * 365 * 86_400  # Intuit: "a maximum validity period of five years"
HARD_END_HEADER = "x-include-refresh-token-hard-expires-in"
HARD_END_FIELDS = ("x_refresh_token_hard_expires_in", "x_refresh_token_lifetime_expires_in")
# Intuit's discovery document names its revocation endpoint on another host and path than the token
# endpoint: https://developer.api.intuit.com/v2/oauth2/tokens/revoke. Served here at that path (and at the
# /oauth2/v1/ one earlier sandboxes advertised, so a client holding that discovery answer keeps working).
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
_OF_REALM = " AND (? IS NULL OR realm = ?)"  # one company's tokens, or every company's when None


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (no multipart parser needed for OAuth)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OAuthServer:
    def __init__(
        self,
        state_path: Path | None,
        base_url: str,
        *,
        access_ttl: int = ACCESS_TTL,
        refresh_ttl: int = REFRESH_TTL,
        rotation_grace: int = 30,
        clock=time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_ttl, self.refresh_ttl, self.rotation_grace, self.clock = (
            access_ttl,
            refresh_ttl,
            rotation_grace,
            clock,
        )
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(state_path), check_same_thread=False)
        self.refresh_hard_ttl, self.hard_expiry_field = REFRESH_HARD_TTL, HARD_END_FIELDS[0]
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS apps (client_id TEXT PRIMARY KEY, client_secret TEXT);
            CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, kind TEXT, realm TEXT, expires REAL,
                                               superseded REAL, revoked INTEGER DEFAULT 0, hard_end REAL);
            """
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tokens)")}
        if "hard_end" not in columns:  # a state folder from before hard ends: its chains start one at first use
            self._db.execute("ALTER TABLE tokens ADD COLUMN hard_end REAL")
        self._codes: dict[str, tuple[str, str, float]] = {}  # code → (realm, redirect_uri, expires)
        self.realms: list[str] = []  # the companies a user may connect, the first the default (server.py fills it)
        self.token_calls = 0

    @property
    def discovery_url(self) -> str:
        return self.base_url + DISCOVERY_PATH

    # -- Python API used by the app and the control API ------------------------------------------
    def ensure_app(self) -> tuple[str, str]:
        with self._lock, self._db:
            row = self._db.execute("SELECT client_id, client_secret FROM apps").fetchone()
            if row:
                return row
            app = ("AB" + secrets.token_hex(16), secrets.token_urlsafe(30))
            self._db.execute("INSERT INTO apps VALUES (?, ?)", app)
            return app

    def mint_tokens(self, realm: str, *, hard_end: float | None = None, tell_hard_end: bool = False) -> dict:
        """A fresh access + refresh token pair for `realm`, as the token endpoint answers it: a new chain
        (consent: its hard end `refresh_hard_ttl` from now), or the next of one ending at `hard_end`."""
        access, refresh = secrets.token_urlsafe(40), "RT1-" + secrets.token_urlsafe(40)
        now = self.clock()
        hard_end = now + self.refresh_hard_ttl if hard_end is None else hard_end
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO tokens (hash, kind, realm, expires, hard_end) VALUES (?, ?, ?, ?, ?)",
                [
                    (_hash(access), "access", realm, now + self.access_ttl, None),
                    (_hash(refresh), "refresh", realm, now + self.refresh_ttl, hard_end),
                ],
            )
        answer = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "x_refresh_token_expires_in": self.refresh_ttl,
        }
        if tell_hard_end:
            answer[self.hard_expiry_field] = max(0, int(hard_end - now))
        return answer

    def move_hard_end(self, seconds_from_now: float, realm: str | None = None) -> None:
        """Put the hard end of every live refresh token (of `realm`, or of every company) `seconds_from_now`
        away (a test's way to bring it near)."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE tokens SET hard_end = ? WHERE kind = 'refresh'" + _OF_REALM,
                (self.clock() + float(seconds_from_now), realm, realm),
            )

    def configure_hard_end(self, ttl: int | None, field: str | None) -> None:
        if field is not None and field not in HARD_END_FIELDS:
            raise ValueError(f"hard_expiry_field must be one of {', '.join(HARD_END_FIELDS)} (got {field!r})")
        if ttl is not None:
            self.refresh_hard_ttl = int(ttl)
        if field is not None:
            self.hard_expiry_field = field

    def authenticate(self, authorization: str | None) -> str | None:
        """The realm of a valid bearer token, else None."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        row = self._db.execute(
            "SELECT realm, expires, revoked FROM tokens WHERE hash = ? AND kind = 'access'",
            (_hash(authorization[7:].strip()),),
        ).fetchone()
        if row is None or row[2] or row[1] < self.clock():
            return None
        return row[0]

    # Each of these acts on one company's tokens, or on every company's when `realm` is None.
    def revoke_all(self, realm: str | None = None) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE 1" + _OF_REALM, (realm, realm))

    def unrevoke_all(self, realm: str | None = None) -> None:
        """Undo `revoke_all` (a reset clears faults and what they did, so one test's revocation ends there)."""
        with self._lock, self._db:
            self._db.execute("UPDATE tokens SET revoked = 0 WHERE 1" + _OF_REALM, (realm, realm))

    def expire_access_tokens(self, realm: str | None = None) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE tokens SET expires = 0 WHERE kind = 'access'" + _OF_REALM, (realm, realm))

    # -- HTTP ------------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            Route(DISCOVERY_PATH, self.discovery, methods=["GET"]),
            Route("/oauth2/v1/authorize", self.authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self.token, methods=["POST"]),
            Route(REVOKE_PATH, self.revoke, methods=["POST"]),
            Route("/oauth2/v1/tokens/revoke", self.revoke, methods=["POST"]),
            Route("/oauth2/v1/userinfo", self.userinfo, methods=["GET"]),
            Route("/oauth2/v1/keys", lambda _r: JSONResponse({"keys": []}), methods=["GET"]),
        ]

    async def discovery(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.base_url,
                "authorization_endpoint": self.base_url + "/oauth2/v1/authorize",
                "token_endpoint": self.base_url + "/oauth2/v1/tokens/bearer",
                "revocation_endpoint": self.base_url + REVOKE_PATH,
                "userinfo_endpoint": self.base_url + "/oauth2/v1/userinfo",
                "jwks_uri": self.base_url + "/oauth2/v1/keys",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        params = request.query_params
        if params.get("client_id") != self.ensure_app()[0]:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        redirect_uri = params.get("redirect_uri", "")
        # Intuit's consent screen has the user pick one of their companies; here the pick is `realm_id`, the
        # first company when not given. A realm the sandbox does not serve may be picked too (a company of
        # the user's elsewhere): its tokens are then good for none of the sandbox's companies.
        realm = params.get("realm_id") or self.realms[0]
        code = secrets.token_urlsafe(24)
        self._codes[code] = (realm, redirect_uri, self.clock() + 600)
        query = {"code": code, "realmId": realm}
        if params.get("state"):
            query["state"] = params["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)

    def _client_ok(self, request: Request, form) -> bool:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
        return (client_id, client_secret) == self.ensure_app()

    async def token(self, request: Request) -> Response:
        self.token_calls += 1
        form = await _form(request)
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = form.get("grant_type")
        tell = request.headers.get(HARD_END_HEADER, "").strip().lower() == "true"
        if grant == "authorization_code":
            entry = self._codes.pop(form.get("code", ""), None)
            if entry is None or entry[2] < self.clock() or entry[1] != form.get("redirect_uri", entry[1]):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(self.mint_tokens(entry[0], tell_hard_end=tell))
        if grant == "refresh_token":
            return self._refresh(form.get("refresh_token", ""), tell)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _refresh(self, refresh_token: str, tell_hard_end: bool) -> Response:
        now = self.clock()
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT realm, expires, superseded, revoked, hard_end FROM tokens WHERE hash = ? AND kind = 'refresh'",
                (_hash(refresh_token),),
            ).fetchone()
            if (
                row is None
                or row[3]
                or row[1] < now
                or (row[2] is not None and now - row[2] > self.rotation_grace)
                or (row[4] is not None and row[4] <= now)  # past its hard end: Intuit answers invalid_grant
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if row[2] is None:
                self._db.execute("UPDATE tokens SET superseded = ? WHERE hash = ?", (now, _hash(refresh_token)))
        return JSONResponse(self.mint_tokens(row[0], hard_end=row[4], tell_hard_end=tell_hard_end))

    async def revoke(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = await _form(request)
        if not self._client_ok(request, body):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        row = self._db.execute("SELECT realm FROM tokens WHERE hash = ?", (_hash(body.get("token", "")),)).fetchone()
        if row:
            with self._lock, self._db:
                self._db.execute("UPDATE tokens SET revoked = 1 WHERE realm = ?", row)
        return Response(status_code=200)

    async def userinfo(self, request: Request) -> Response:
        if self.authenticate(request.headers.get("authorization")) is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"sub": "sandbox-user", "email": "sandbox@example.invalid", "emailVerified": True})

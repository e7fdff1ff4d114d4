"""A live connection to one QuickBooks company: tokens, refreshes, and a timed python-quickbooks client.

- intuit-oauth's AuthClient fetches its discovery document in its constructor: built lazily.
- python-quickbooks has no timeouts and hides HTTP statuses behind its exceptions: `TimedQuickBooks`
  adds a timeout to every request and raises our own errors for 429 and 5xx before it parses.
- Tokens: refreshed when the access token is within REFRESH_MARGIN of expiry or after a 401, under
  the token store's cross-process lock, re-reading inside it; the new refresh token is committed
  before the new access token is used. A refreshed AuthClient does not update an existing client's
  session, so a new QuickBooks client is built after every refresh.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

import requests
from quickbooks import QuickBooks

from qb_pipeline.db.token_store import DatabaseTokenStore, StoredTokens
from qb_pipeline.db.types import utcnow
from qb_pipeline.quickbooks.errors import QuickBooksAuthError, QuickBooksThrottled, QuickBooksUnavailable
from qb_pipeline.quickbooks.stats import CallStats

MINOR_VERSION = 75
REFRESH_MARGIN = timedelta(minutes=5)
SUCCESS_STAMP_EVERY = 60.0  # seconds between writes of "last successful call" (shown by auth status)
INTUIT_API = {"sandbox": "https://sandbox-quickbooks.api.intuit.com/v3", "production": "https://quickbooks.api.intuit.com/v3"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ConnectionSettings:
    client_id: str
    client_secret: str
    realm_id: str
    redirect_uri: str
    environment: str  # "sandbox", "production", or a discovery URL (the local sandbox)
    api_base_url: str
    timeout_seconds: float = 30.0

    def __repr__(self) -> str:  # the secret never reaches a log line through a repr
        return f"ConnectionSettings(realm_id={self.realm_id!r}, api_base_url={self.api_base_url!r})"


def allow_plain_http_for_loopback(url: str) -> None:
    """requests-oauthlib refuses http://; allow it only when the API really is on this machine."""
    parsed = urlparse(url)
    if parsed.scheme == "http":
        if parsed.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"refusing plain HTTP to {parsed.hostname}: QuickBooks must be reached over HTTPS")
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


class TimedQuickBooks(QuickBooks):
    """python-quickbooks with a timeout on every request and HTTP status surfaced as our errors."""

    timeout_seconds: float = 30.0

    def process_request(self, request_type, url, headers="", params="", data=""):
        if self.session is None:
            raise QuickBooksUnavailable("no QuickBooks session")
        headers.update({"Authorization": "Bearer " + self.session.access_token})
        response = self.session.request(request_type, url, headers=headers, params=params, data=data,
                                        timeout=self.timeout_seconds)
        if response.status_code == 429:
            raise QuickBooksThrottled(_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise QuickBooksUnavailable(f"QuickBooks answered HTTP {response.status_code}")
        return response


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class Connection:
    def __init__(self, settings: ConnectionSettings, tokens: DatabaseTokenStore, stats: CallStats | None = None) -> None:
        self.settings, self.tokens = settings, tokens
        self.stats = stats or CallStats()
        self._auth_client = None
        self._client: TimedQuickBooks | None = None
        self._access_token: str | None = None
        self._tokens: StoredTokens | None = None  # cached while fresh: no database read per API call
        self._success_stamped = 0.0
        self._lock = threading.Lock()
        allow_plain_http_for_loopback(settings.api_base_url)
        if settings.environment.startswith("http"):
            allow_plain_http_for_loopback(settings.environment)

    @property
    def realm_id(self) -> str:
        return self.settings.realm_id

    def auth_client(self):
        if self._auth_client is None:
            from intuitlib.client import AuthClient

            s = self.settings
            try:
                self._auth_client = AuthClient(s.client_id, s.client_secret, s.redirect_uri, environment=s.environment)
            except (requests.RequestException, ValueError) as error:
                raise QuickBooksUnavailable(f"cannot reach the QuickBooks OAuth discovery document: "
                                            f"{type(error).__name__}") from None
        return self._auth_client

    def client(self) -> TimedQuickBooks:
        """A client holding a valid access token (refreshing first when it is about to expire)."""
        with self._lock:
            stored = self._tokens if self._tokens and _fresh(self._tokens) else self.tokens.load(self.realm_id)
            if stored is None:
                raise QuickBooksAuthError(f"no QuickBooks connection for company {self.realm_id}: "
                                          "run `qb-pipeline auth connect`")
            if not _fresh(stored):
                stored = self._refresh(failed_access_token=None)
            if self._client is None or self._access_token != stored.access_token:
                self._client = self._build(stored)
            self._tokens = stored
            return self._client

    def note_success(self) -> None:
        """Remember that QuickBooks answered (at most one database write a minute)."""
        now = time.monotonic()
        if now - self._success_stamped >= SUCCESS_STAMP_EVERY:
            self._success_stamped = now
            self.tokens.record_success(self.realm_id)

    def after_unauthorized(self) -> None:
        """A 401: refresh unless another process already did, then rebuild the client."""
        with self._lock:
            self._tokens = self._refresh(failed_access_token=self._access_token)
            self._client = None

    def _refresh(self, failed_access_token: str | None) -> StoredTokens:
        with self.tokens.locked(self.realm_id) as locked:
            current = locked.load()
            if current is None:
                raise QuickBooksAuthError("the QuickBooks connection was removed: run `qb-pipeline auth connect`")
            # Someone refreshed while we waited for the lock: use theirs.
            if current.access_token != failed_access_token and _fresh(current):
                return current
            auth = self.auth_client()
            self.stats.count("token")
            self.stats.refreshes += 1
            try:
                auth.refresh(refresh_token=current.refresh_token)
            except Exception as error:  # AuthClientError carries the response: never echo it
                status = getattr(error, "status_code", None)
                if status in (400, 401):
                    raise QuickBooksAuthError(
                        "QuickBooks refused to refresh the connection (the refresh token was revoked, expired, "
                        "or used elsewhere): run `qb-pipeline auth connect`") from None
                raise QuickBooksUnavailable(f"QuickBooks token refresh failed ({type(error).__name__}"
                                            f"{f', HTTP {status}' if status else ''})") from None
            now = utcnow()
            fresh = StoredTokens(
                realm_id=self.realm_id,
                refresh_token=auth.refresh_token,
                access_token=auth.access_token,
                access_expires_at=now + timedelta(seconds=int(auth.expires_in or 3600)),
                refresh_expires_at=now + timedelta(seconds=int(auth.x_refresh_token_expires_in or 0))
                if auth.x_refresh_token_expires_in else current.refresh_expires_at,
            )
            locked.save(fresh)
        return fresh  # committed when the lock's block ended, before anyone uses it

    def _build(self, stored: StoredTokens) -> TimedQuickBooks:
        auth = self.auth_client()
        auth.access_token, auth.refresh_token = stored.access_token, stored.refresh_token
        client = TimedQuickBooks(auth_client=auth, refresh_token=stored.refresh_token, company_id=self.realm_id,
                                 minorversion=MINOR_VERSION, use_decimal=True)
        client.timeout_seconds = self.settings.timeout_seconds
        client.api_url_v3 = client.sandbox_api_url_v3 = self.settings.api_base_url
        self._access_token = stored.access_token
        return client


def _fresh(tokens: StoredTokens, now: datetime | None = None) -> bool:
    return bool(tokens.access_token and tokens.access_expires_at
                and tokens.access_expires_at - REFRESH_MARGIN > (now or utcnow()))

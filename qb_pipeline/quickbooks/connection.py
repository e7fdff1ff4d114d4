"""A live connection to one QuickBooks company: tokens, refreshes, and a timed python-quickbooks client.

- intuit-oauth's AuthClient fetches its discovery document in its constructor: built lazily.
- The HTTP sessions both libraries send through (timeouts, minorversion, the hard-end header): sessions.py.
- Tokens: refreshed when the access token is within REFRESH_MARGIN of expiry or after a 401 (an access
  token QuickBooks refused is never sent again: should that refresh fail, the next `client()` refreshes
  first, so the gateway's retry is a retried refresh with the same refresh token), by one
  process per company at a time (a lease row, not a database lock: an order written meanwhile never
  waits on Intuit), re-reading inside the lease; the new refresh token is saved before the new access
  token is used, the save is retried, and if it still fails the newest tokens are kept in memory,
  tried when the stored refresh token is refused, and saved again before the next call. A refreshed
  AuthClient does not update an existing client's session, so a new client is built after a refresh.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests
from quickbooks import QuickBooks

from qb_pipeline.core import defaults
from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksUnavailable
from qb_pipeline.core.tokens import RENEW_COMMAND, StoredTokens, TokenStore
from qb_pipeline.quickbooks.sessions import (
    MINOR_VERSION,
    TOKEN_ENDPOINT_TIMEOUT,
    TimedAuthClient,
    TimedSession,
    allow_plain_http_for_loopback,
)
from qb_pipeline.quickbooks.stats import CallStats

SAVE_ATTEMPTS = 4
REFRESH_MARGIN = timedelta(minutes=5)
SUCCESS_STAMP_EVERY = 60.0  # seconds between writes of "last successful call" (shown by auth status)
INTUIT_API = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com/v3",
    "production": "https://quickbooks.api.intuit.com/v3",
}


@dataclass(frozen=True)
class ConnectionSettings:
    client_id: str
    client_secret: str
    realm_id: str
    redirect_uri: str
    environment: str  # "sandbox", "production", or a discovery URL (the local sandbox)
    api_base_url: str
    timeout_seconds: float = defaults.TIMEOUT_SECONDS

    def __repr__(self) -> str:  # the secret never reaches a log line through a repr
        return f"ConnectionSettings(realm_id={self.realm_id!r}, api_base_url={self.api_base_url!r})"


def _timed_auth_client(s: ConnectionSettings) -> TimedAuthClient:
    return TimedAuthClient(
        s.client_id,
        s.client_secret,
        s.redirect_uri,
        environment=s.environment,
        timeout_seconds=min(s.timeout_seconds, TOKEN_ENDPOINT_TIMEOUT),
    )


class Connection:
    def __init__(self, settings: ConnectionSettings, tokens: TokenStore, stats: CallStats | None = None) -> None:
        self.settings, self.tokens = settings, tokens
        self.stats = stats or CallStats()
        self._auth_client = None
        self._client: QuickBooks | None = None
        self._access_token: str | None = None
        self._tokens: StoredTokens | None = None  # cached while fresh: no database read per API call
        self._newest: StoredTokens | None = None  # what our last refresh returned, saved or not
        self._refreshed_from: str | None = None  # the refresh token that refresh consumed
        self._unsaved: StoredTokens | None = None  # refreshed tokens no save has stored yet: tried again
        self._refused_access_token: str | None = None  # the last one QuickBooks answered 401: never resent
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
            s = self.settings
            try:
                self._auth_client = _timed_auth_client(s)
            except requests.Timeout:
                raise QuickBooksUnavailable(
                    f"the QuickBooks OAuth discovery document did not come within {s.timeout_seconds:g} s"
                ) from None
            except (requests.RequestException, ValueError) as error:
                raise QuickBooksUnavailable(
                    f"cannot reach the QuickBooks OAuth discovery document: {type(error).__name__}"
                ) from None
        return self._auth_client

    def client(self) -> QuickBooks:
        """A client holding a valid access token (refreshing first when it is about to expire)."""
        with self._lock:
            self._save_unsaved()  # a save that failed after a refresh is tried again before each call
            stored = self._tokens if self._tokens and _fresh(self._tokens) else self.tokens.load(self.realm_id)
            if stored is None:
                raise QuickBooksAuthError(
                    f"no QuickBooks connection for company {self.realm_id}: run `qb-pipeline auth connect`"
                )
            refused = self._refused_access_token
            if not _fresh(stored) or (refused is not None and stored.access_token == refused):
                # about to expire, or refused by QuickBooks and the refresh after that 401 failed
                stored = self._refresh(failed_access_token=refused)
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
        """A 401: refresh unless another process already did, then rebuild the client. When the refresh
        fails (its answer lost), the refused token is still remembered: `client()` refreshes first."""
        with self._lock:
            self._refused_access_token, self._client = self._access_token, None
            self._tokens = self._refresh(failed_access_token=self._refused_access_token)

    def _refresh(self, failed_access_token: str | None) -> StoredTokens:
        """One refresh per company at a time (a lease, not a database lock: nothing waits on Intuit but
        other refreshers), re-reading what is stored once we may refresh."""
        owner, lease = f"{os.getpid()}-{id(self)}", self.settings.timeout_seconds * 2 + 10
        deadline = time.monotonic() + lease + 5
        while True:
            current = self.tokens.load(self.realm_id)
            if current is None:
                raise QuickBooksAuthError("the QuickBooks connection was removed: run `qb-pipeline auth connect`")
            if self._refreshed_by_another(current, failed_access_token):
                return current  # another process refreshed while we waited
            if self.tokens.take_refresh_lease(self.realm_id, owner, lease):
                break
            if time.monotonic() > deadline:
                raise QuickBooksUnavailable(
                    "another process has been refreshing the QuickBooks connection for too long; try again"
                )
            time.sleep(0.2)
        try:
            current = self.tokens.load(self.realm_id)
            if self._refreshed_by_another(current, failed_access_token):
                return current
            try:
                fresh = self._exchange(current.refresh_token, current)
            except QuickBooksAuthError:
                # The stored token was refused: if a refresh of ours succeeded but could not be saved, the
                # newest refresh token is the one in memory. Try it before giving the connection up.
                newest = self._newest
                if newest is None or newest.refresh_token == current.refresh_token:
                    raise
                fresh = self._exchange(newest.refresh_token, current)
            self._newest, self._refreshed_from = fresh, current.refresh_token
            self._save_refreshed(fresh)
            return fresh
        finally:
            self.tokens.release_refresh_lease(self.realm_id, owner)

    def _refreshed_by_another(self, stored: StoredTokens, failed_access_token: str | None) -> bool:
        """Whether what is stored came from a refresh newer than ours (then use it, and refresh nothing).
        Stored tokens still holding the refresh token our last refresh consumed are older than the ones
        we hold: our save of the new ones failed."""
        if self._newest is not None and stored.refresh_token == self._refreshed_from:
            return False
        return stored.access_token != failed_access_token and _fresh(stored)

    def _exchange(self, refresh_token: str, current: StoredTokens) -> StoredTokens:
        """Trade a refresh token for new tokens at Intuit's token endpoint (timed out, never echoed)."""
        auth = self.auth_client()
        self.stats.count("token")
        self.stats.refreshes += 1
        auth.forget_hard_end()
        try:
            auth.refresh(refresh_token=refresh_token)
        except requests.Timeout:
            raise self._token_endpoint_silent() from None
        except Exception as error:  # AuthClientError carries the response: never echo it
            status = getattr(error, "status_code", None)
            if status in (400, 401):
                raise _refused_refresh(current) from None
            raise QuickBooksUnavailable(
                f"QuickBooks token refresh failed ({type(error).__name__}{f', HTTP {status}' if status else ''})"
            ) from None
        now = _utcnow()
        return StoredTokens(
            realm_id=self.realm_id,
            refresh_token=auth.refresh_token,
            access_token=auth.access_token,
            access_expires_at=now + timedelta(seconds=int(auth.expires_in or 3600)),
            refresh_expires_at=now + timedelta(seconds=int(auth.x_refresh_token_expires_in or 0))
            if auth.x_refresh_token_expires_in
            else current.refresh_expires_at,
            refresh_hard_expires_at=auth.hard_end(now) or current.refresh_hard_expires_at,
        )

    def exchange_code(self, code: str, realm_id: str | None) -> StoredTokens:
        """The OAuth code exchange (`qb-pipeline auth connect`): an authorization code for tokens, timed
        out at `timeout_seconds` like a refresh. Not retried: Intuit accepts a code once."""
        auth = self.auth_client()
        self.stats.count("token")
        auth.forget_hard_end()
        try:
            auth.get_bearer_token(code, realm_id=realm_id)
        except requests.Timeout:
            raise self._token_endpoint_silent() from None
        except requests.RequestException as error:
            raise QuickBooksUnavailable(
                f"cannot reach the QuickBooks token endpoint ({type(error).__name__})"
            ) from None
        except Exception as error:  # AuthClientError carries the response: never echo it
            raise QuickBooksAuthError(f"QuickBooks refused the authorization code ({type(error).__name__})") from None
        now = _utcnow()
        return StoredTokens(
            realm_id=realm_id or self.realm_id,
            refresh_token=auth.refresh_token,
            access_token=auth.access_token,
            access_expires_at=now + timedelta(seconds=int(auth.expires_in or 3600)),
            refresh_expires_at=now + timedelta(seconds=int(auth.x_refresh_token_expires_in or 8726400)),
            refresh_hard_expires_at=auth.hard_end(now),
        )

    def _token_endpoint_silent(self) -> QuickBooksUnavailable:
        return QuickBooksUnavailable(
            f"the QuickBooks token endpoint did not answer within {self.settings.timeout_seconds:g} s"
        )

    def _save_refreshed(self, fresh: StoredTokens) -> None:
        """The new refresh token must outlive this process: retry the save; if it still fails, the run
        goes on with the tokens in memory (and `_refresh` tries them when the stored one is refused)."""
        self._unsaved = fresh
        for attempt in range(SAVE_ATTEMPTS):
            if self._save_unsaved():
                return
            time.sleep(0.2 * (attempt + 1))
        self.stats.unsaved_refreshes += 1

    def _save_unsaved(self) -> bool:
        """Store the tokens a refresh returned and a save has not stored yet; whether they are stored now."""
        if self._unsaved is None:
            return True
        try:
            self.tokens.save_refreshed(self._unsaved)
        except self.tokens.save_failures:
            return False
        self._unsaved = None
        return True

    def _build(self, stored: StoredTokens) -> QuickBooks:
        auth = self.auth_client()
        auth.access_token, auth.refresh_token = stored.access_token, stored.refresh_token
        client = QuickBooks(
            auth_client=auth,
            refresh_token=stored.refresh_token,
            company_id=self.realm_id,
            minorversion=MINOR_VERSION,
            use_decimal=True,
        )
        client.session = TimedSession(
            auth.client_id,
            {"access_token": stored.access_token, "refresh_token": stored.refresh_token},
            self.settings.timeout_seconds,
        )
        client.api_url_v3 = client.sandbox_api_url_v3 = self.settings.api_base_url
        self._access_token = stored.access_token
        return client


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _refused_refresh(current: StoredTokens) -> QuickBooksAuthError:
    """QuickBooks refused the refresh token (`invalid_grant`): one line saying why when we know it."""
    hard_end = current.refresh_hard_expires_at
    if hard_end is not None and hard_end <= _utcnow():
        return QuickBooksAuthError(
            f"the QuickBooks refresh token reached its hard end (Intuit's five-year limit) on "
            f"{hard_end:%Y-%m-%d %H:%M} UTC: run `{RENEW_COMMAND}` to connect again"
        )
    return QuickBooksAuthError(
        "QuickBooks refused to refresh the connection (the refresh token was revoked, expired, "
        f"or used elsewhere): run `{RENEW_COMMAND}`"
    )


def _fresh(tokens: StoredTokens, now: datetime | None = None) -> bool:
    return bool(
        tokens.access_token
        and tokens.access_expires_at
        and tokens.access_expires_at - REFRESH_MARGIN > (now or _utcnow())
    )

"""The HTTP sessions python-quickbooks and intuit-oauth send through, in place of their own.

- python-quickbooks has no timeouts and hides HTTP statuses behind its exceptions: it is given a
  `TimedSession` (a requests session with a timeout and `minorversion=75` on every request, and a
  response hook that raises our own errors for 429 and 5xx before it parses) in place of the session
  it builds.
- intuit-oauth has no timeouts either: `TimedAuthClient` gives every request it makes (discovery,
  token refresh, code exchange, revoke) `timeout_seconds`; a token endpoint that never answers fails
  the call like any other timeout, and the gateway's retry rules apply (the code exchange of `auth
  connect`, `exchange_code`, is not retried: a code is good once).
- Refresh tokens have a hard end (Intuit, 2025: five years from consent). intuit-oauth 1.2.6 cannot ask for
  it, so `TimedAuthClient` adds the header Intuit documents to every token-endpoint request (code exchange
  and refresh), as intuit-oauth 1.2.7's opt-in does; the answer's field lands on the AuthClient like every
  other (its `set_attributes`), and is stored beside the tokens. A refresh whose answer lacks it keeps
  the stored end: rotation does not move a chain's hard end.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from urllib.parse import urlparse

import requests
from intuitlib.client import AuthClient
from requests_oauthlib import OAuth2Session

from qb_pipeline.core import defaults
from qb_pipeline.core.errors import QuickBooksThrottled, QuickBooksUnavailable

MINOR_VERSION = 75
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def allow_plain_http_for_loopback(url: str) -> None:
    """requests-oauthlib refuses http://; allow it only when the API really is on this machine."""
    parsed = urlparse(url)
    if parsed.scheme == "http":
        if parsed.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"refusing plain HTTP to {parsed.hostname}: QuickBooks must be reached over HTTPS")
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


class _DefaultTimeout:
    """A requests.Session mixin: every request without a timeout of its own gets `timeout_seconds`."""

    timeout_seconds: float = defaults.TIMEOUT_SECONDS

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout_seconds)
        return super().request(method, url, *args, **kwargs)


# Intuit tells a refresh token's hard end only when asked with this header; its own clients read the answer
# as the first name (intuit-oauth 1.2.7, the Java and .NET SDKs), its JavaScript client 4.2.4 read the second.
HARD_END_HEADER = "x-include-refresh-token-hard-expires-in"
HARD_END_FIELDS = ("x_refresh_token_hard_expires_in", "x_refresh_token_lifetime_expires_in")


class TimedAuthClient(_DefaultTimeout, AuthClient):
    """intuit-oauth's client (itself a requests.Session) with a timeout on every request it makes: the
    discovery document in its constructor, the token endpoint (refresh, code exchange) and revoke; and
    every token-endpoint request asks for the refresh token's hard end."""

    def __init__(self, *args, timeout_seconds: float, **kwargs) -> None:
        self.timeout_seconds = timeout_seconds
        super().__init__(*args, **kwargs)

    def request(self, method, url, *args, **kwargs):
        if method.upper() == "POST" and url == self.token_endpoint:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), HARD_END_HEADER: "true"}
        return super().request(method, url, *args, **kwargs)

    def forget_hard_end(self) -> None:
        """Before a token request: the AuthClient keeps each answer's fields, so an older answer's would stay."""
        for name in HARD_END_FIELDS:
            setattr(self, name, None)

    def hard_end(self, now: datetime) -> datetime | None:
        """The refresh token's hard end as the last token answer told it, if it did."""
        told = [getattr(self, name, None) for name in HARD_END_FIELDS]
        try:
            return next((now + timedelta(seconds=int(s)) for s in told if s is not None), None)
        except (TypeError, ValueError):
            return None


class TimedSession(_DefaultTimeout, OAuth2Session):
    """The session python-quickbooks sends every API call through, in place of the untimed one it
    builds: a timeout on each request, `minorversion=75` on each, and 429 / 5xx raised as our errors
    before it parses the body."""

    def __init__(self, client_id: str, token: dict, timeout_seconds: float) -> None:
        super().__init__(client_id, token=token)
        self.timeout_seconds = timeout_seconds
        self.hooks["response"].append(_raise_for_throttling_or_outage)

    def request(self, method, url, *args, **kwargs):
        # Every call names minor version 75 (docs/qbo-api.md §10), whichever path built it: python-quickbooks'
        # own calls do, but its download_pdf (process_request) sends no params, nor would a raw call of ours.
        kwargs["params"] = {**dict(kwargs.get("params") or {}), "minorversion": MINOR_VERSION}
        return super().request(method, url, *args, **kwargs)


def _raise_for_throttling_or_outage(response: requests.Response, *args, **kwargs) -> None:
    if response.status_code == 429:
        raise QuickBooksThrottled(_retry_after(response.headers.get("Retry-After")))
    if response.status_code >= 500:
        raise QuickBooksUnavailable(f"QuickBooks answered HTTP {response.status_code}")


# The token endpoint answers within a second when it answers at all, and a refresh whose answer was lost
# may have rotated the refresh token: its retry must come while the superseded one is still honoured (30 s
# in the sandbox), so the OAuth endpoints wait at most this long, whatever QB_TIMEOUT_SECONDS says.
TOKEN_ENDPOINT_TIMEOUT = 10.0


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None

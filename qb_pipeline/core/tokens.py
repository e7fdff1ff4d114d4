"""The OAuth tokens of one company, and what a connection needs from wherever they are kept.

`quickbooks/connection.py` works against `TokenStore`; `db/token_store.py` is the store the product
uses (encrypted rows with a refresh lease), handed to the connection by `quickbooks/factory.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

# Intuit's refresh token ends at the first of two ends: unused for about 100 days (`refresh_expires_at`,
# renewed by every refresh), or its hard end five years after consent (`refresh_hard_expires_at`, told by the
# token answer when asked). Only a new consent (`qb-pipeline auth connect`) renews the hard end; the
# connection check fails this long before either end so a person has time to give it.
RENEW_BEFORE = timedelta(days=30)
RENEW_COMMAND = "qb-pipeline auth connect"


@dataclass(frozen=True)
class TokenEnd:
    at: datetime
    what: str  # which end: "hard end" or "unused expiry"


def nearest_end(refresh_expires_at: datetime | None, refresh_hard_expires_at: datetime | None) -> TokenEnd | None:
    """The first of the refresh token's two ends that is known."""
    ends = [
        TokenEnd(at, what)
        for at, what in ((refresh_hard_expires_at, "hard end"), (refresh_expires_at, "unused expiry"))
        if at is not None
    ]
    return min(ends, key=lambda end: end.at) if ends else None


def renewal_notice(end: TokenEnd | None, now: datetime) -> str | None:
    """What to tell a person when the refresh token ends within RENEW_BEFORE (or has ended), else None."""
    if end is None or end.at - now > RENEW_BEFORE:
        return None
    days = (end.at - now).total_seconds() / 86400
    when = f"{end.at:%Y-%m-%d %H:%M} UTC"
    if days <= 0:
        return f"the QuickBooks refresh token reached its {end.what} on {when}: run `{RENEW_COMMAND}`"
    return f"the QuickBooks refresh token reaches its {end.what} in {days:.1f} days ({when}): run `{RENEW_COMMAND}`"


@dataclass(frozen=True)
class StoredTokens:
    realm_id: str
    refresh_token: str
    access_token: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None  # unused this long, the refresh token dies (about 100 days)
    refresh_hard_expires_at: datetime | None = None  # its hard end, however often it is used (five years)

    def __repr__(self) -> str:  # tokens never reach a log line through a repr
        return (
            f"StoredTokens(realm_id={self.realm_id!r}, access_expires_at={self.access_expires_at!r}, "
            f"refresh_expires_at={self.refresh_expires_at!r}, "
            f"refresh_hard_expires_at={self.refresh_hard_expires_at!r})"
        )


class TokenStore(Protocol):
    # The failures of `save_refreshed` that mean "not stored, try again later" (the connection keeps the
    # new tokens in memory meanwhile); anything else propagates.
    save_failures: tuple[type[Exception], ...]

    def load(self, realm_id: str) -> StoredTokens | None: ...

    def take_refresh_lease(self, realm_id: str, owner: str, seconds: float) -> bool:
        """Become the one process refreshing this company's tokens for `seconds` at most, holding no lock
        while Intuit is asked; whether `owner` holds the lease now."""

    def release_refresh_lease(self, realm_id: str, owner: str) -> None: ...

    def save_refreshed(self, tokens: StoredTokens) -> None:
        """What a refresh returned; raises one of `save_failures` when it could not be stored."""

    def record_success(self, realm_id: str) -> None:
        """When QuickBooks last answered a call (shown by `qb-pipeline auth status`)."""

    def record_preferences(self, realm_id: str, *, keeps_invoice_numbers: bool) -> None:
        """The company's invoice numbering as just read (the connection check reports it without a read)."""

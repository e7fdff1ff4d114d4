"""The OAuth tokens of one company, and what a connection needs from wherever they are kept.

`quickbooks/connection.py` works against `TokenStore`; `db/token_store.py` is the store the product
uses (encrypted rows with a refresh lease), handed to the connection by `quickbooks/factory.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class StoredTokens:
    realm_id: str
    refresh_token: str
    access_token: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None

    def __repr__(self) -> str:  # tokens never reach a log line through a repr
        return (
            f"StoredTokens(realm_id={self.realm_id!r}, access_expires_at={self.access_expires_at!r}, "
            f"refresh_expires_at={self.refresh_expires_at!r})"
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

"""OAuth tokens in `qb_tokens`, encrypted, with a cross-process lease for refreshing.

Refresh races between processes are the most reported failure of QuickBooks integrations: two
processes refresh with the same refresh token, one of the new refresh tokens is lost, and the next
refresh fails with `invalid_grant`. A refresh lease (a row update in a short transaction) serializes
refreshes per realm across processes without holding any database lock while Intuit is asked; the
refresher re-reads what is stored once it holds the lease, so a second process sees the first one's
new tokens and does not refresh again. `locked()` is for short read-modify-writes (connecting, tests).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from qb_pipeline.core.tokens import StoredTokens
from qb_pipeline.db import companies
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_cipher import TokenCipher
from qb_pipeline.db.types import utcnow


class LockedTokens:
    """The stored tokens of one realm inside the refresh lock; `save` writes in the same transaction."""

    def __init__(self, session: Session, cipher: TokenCipher, realm_id: str) -> None:
        self._session, self._cipher, self.realm_id = session, cipher, realm_id

    def load(self) -> StoredTokens | None:
        return _decode(self._cipher, self._session.get(QBToken, self.realm_id, populate_existing=True))

    def save(self, tokens: StoredTokens) -> None:
        _write(self._session, self._cipher, tokens, refreshed=True)
        self._session.flush()


class DatabaseTokenStore:
    """The `core.tokens.TokenStore` the product uses: one encrypted row per company."""

    save_failures = (sa.exc.SQLAlchemyError,)

    def __init__(self, engine: sa.Engine, cipher: TokenCipher) -> None:
        self.engine, self.cipher = engine, cipher

    def load(self, realm_id: str) -> StoredTokens | None:
        with session_scope(self.engine) as session:
            return _decode(self.cipher, session.get(QBToken, realm_id))

    def save(self, tokens: StoredTokens) -> None:
        """Store tokens from a new connection (OAuth authorization code) or a refresh."""
        with session_scope(self.engine) as session:
            _write(session, self.cipher, tokens, refreshed=False)

    def record_connected(self, realm_id: str, environment: str) -> None:
        """A company connected without `auth connect` (the bundled sandbox's tokens taken on first use) is
        listed, and connected again if it had been disconnected, as `auth connect` does."""
        with session_scope(self.engine) as session:
            companies.record_connected(session, realm_id, environment)

    @contextmanager
    def locked(self, realm_id: str) -> Iterator[LockedTokens]:
        """Hold the realm's refresh lock; commit what was saved when the block ends without error.

        Callers use a newly refreshed access token only after this block has exited, so the new
        refresh token is durable before anything depends on it.
        """
        with session_scope(self.engine) as session:
            if session.get_bind().dialect.name == "postgresql":
                # Released at the end of the transaction; works even before the realm has a row.
                session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(realm_id))))
            # On SQLite every transaction starts with BEGIN IMMEDIATE: we already hold the write lock.
            yield LockedTokens(session, self.cipher, realm_id)

    def take_refresh_lease(self, realm_id: str, owner: str, seconds: float) -> bool:
        """Become the one process refreshing this company's tokens, for `seconds` at most.

        A short transaction: nothing is held while the refresh talks to Intuit, so no other writer (an
        order-entry app writing an order, on SQLite) waits on it. An expired lease is anyone's.
        """
        now = utcnow()
        with session_scope(self.engine) as session:
            taken = session.execute(
                sa.update(QBToken)
                .where(
                    QBToken.realm_id == realm_id,
                    sa.or_(
                        QBToken.refresh_lease_until.is_(None),
                        QBToken.refresh_lease_until < now,
                        QBToken.refresh_lease_owner == owner,
                    ),
                )
                .values(refresh_lease_owner=owner, refresh_lease_until=now + timedelta(seconds=seconds))
                .execution_options(synchronize_session=False)
            )
            return taken.rowcount == 1

    def release_refresh_lease(self, realm_id: str, owner: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(QBToken)
                .where(QBToken.realm_id == realm_id, QBToken.refresh_lease_owner == owner)
                .values(refresh_lease_owner=None, refresh_lease_until=None)
                .execution_options(synchronize_session=False)
            )

    def save_refreshed(self, tokens: StoredTokens) -> None:
        """Store what a refresh returned (stamps the refresh time)."""
        with session_scope(self.engine) as session:
            _write(session, self.cipher, tokens, refreshed=True)

    def record_success(self, realm_id: str) -> None:
        """When the last API call succeeded (shown by `qb-pipeline auth status`)."""
        with session_scope(self.engine) as session:
            session.execute(sa.update(QBToken).where(QBToken.realm_id == realm_id).values(last_success_at=utcnow()))

    def record_preferences(self, realm_id: str, *, keeps_invoice_numbers: bool) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(QBToken)
                .where(QBToken.realm_id == realm_id)
                .values(keeps_invoice_numbers=keeps_invoice_numbers, preferences_read_at=utcnow())
            )


def _lock_key(realm_id: str) -> int:
    # A stable 32-bit key per realm (pg advisory locks take a bigint).
    return zlib.crc32(f"qb_pipeline.tokens.{realm_id}".encode())


def _decode(cipher: TokenCipher, row: QBToken | None) -> StoredTokens | None:
    if row is None:
        return None
    return StoredTokens(
        realm_id=row.realm_id,
        refresh_token=cipher.decrypt(row.refresh_token_encrypted),
        access_token=cipher.decrypt(row.access_token_encrypted) if row.access_token_encrypted else None,
        access_expires_at=row.access_expires_at,
        refresh_expires_at=row.refresh_expires_at,
        refresh_hard_expires_at=row.refresh_hard_expires_at,
    )


def _write(session: Session, cipher: TokenCipher, tokens: StoredTokens, *, refreshed: bool) -> None:
    row = session.get(QBToken, tokens.realm_id) or QBToken(realm_id=tokens.realm_id)
    row.refresh_token_encrypted = cipher.encrypt(tokens.refresh_token)
    row.access_token_encrypted = cipher.encrypt(tokens.access_token) if tokens.access_token else None
    row.access_expires_at = tokens.access_expires_at
    row.refresh_expires_at = tokens.refresh_expires_at
    row.refresh_hard_expires_at = tokens.refresh_hard_expires_at
    if refreshed:
        row.refreshed_at = utcnow()
    session.add(row)


def connected_realms(session: Session) -> set[str]:
    """The companies holding a token (`auth connect`, or the bundled sandbox's first run), but for one the
    companies table lists as disconnected."""
    return set(session.scalars(sa.select(QBToken.realm_id).where(QBToken.realm_id.not_in(_disconnected()))))


def disconnected_realms(session: Session) -> set[str]:
    """The companies `qb-pipeline companies disconnect` disconnected (their rows and history stay)."""
    return set(session.scalars(_disconnected()))


def _disconnected() -> sa.Select:
    return sa.select(companies.Company.realm_id).where(companies.Company.disconnected_at.is_not(None))

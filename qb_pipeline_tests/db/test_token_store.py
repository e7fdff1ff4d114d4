"""Tokens are encrypted in the table, and refreshes are serialized per realm across connections."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from qb_pipeline.core.tokens import StoredTokens
from qb_pipeline.db.models import QBToken
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.db.token_store import DatabaseTokenStore
from qb_pipeline.db.types import utcnow


def test_tokens_are_encrypted_at_rest_and_hidden_from_repr(engine):
    store = DatabaseTokenStore(engine, TokenCipher(new_key()))
    tokens = StoredTokens(
        "9130", refresh_token="RT-secret-1", access_token="AT-secret-1", access_expires_at=utcnow() + timedelta(hours=1)
    )
    store.save(tokens)
    with session_scope(engine) as session:
        raw = " ".join(str(v) for v in session.execute(sa.select(QBToken.__table__)).one())
    assert "RT-secret-1" not in raw and "AT-secret-1" not in raw
    assert store.load("9130") == tokens
    assert "secret" not in repr(tokens)


def test_refresh_lock_serializes_and_second_holder_sees_first_holders_tokens(engine):
    """The race that kills refresh tokens: two workers decide to refresh at the same moment."""
    store = DatabaseTokenStore(engine, TokenCipher(new_key()))
    store.save(StoredTokens("9130", refresh_token="RT-0"))
    refreshes: list[str] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        with store.locked("9130") as locked:
            current = locked.load()
            if current.refresh_token == "RT-0":  # still the old token: this worker refreshes
                time.sleep(0.2)  # the token endpoint call; the other worker must wait meanwhile
                refreshes.append("refreshed")
                locked.save(StoredTokens("9130", refresh_token="RT-1", access_token="AT-1"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert refreshes == ["refreshed"]
    assert store.load("9130").refresh_token == "RT-1"


def test_failed_refresh_inside_the_lock_keeps_the_old_tokens(engine):
    store = DatabaseTokenStore(engine, TokenCipher(new_key()))
    store.save(StoredTokens("9130", refresh_token="RT-0"))
    try:
        with store.locked("9130") as locked:
            locked.save(StoredTokens("9130", refresh_token="RT-half-written"))
            raise RuntimeError("token endpoint answered 500")
    except RuntimeError:
        pass
    assert store.load("9130").refresh_token == "RT-0"

"""A gateway wired to the test sandbox and a real project database."""

from __future__ import annotations

import pytest

from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.quickbooks.factory import build_gateway, sandbox_settings


class RecordingSleep:
    """Sleeps for real but briefly, and remembers what the gateway asked for."""

    def __init__(self, cap: float | None = 0.05) -> None:
        self.requested: list[float] = []
        self.cap = cap

    def __call__(self, seconds: float) -> None:
        import time

        self.requested.append(seconds)
        time.sleep(seconds if self.cap is None else min(seconds, self.cap))


@pytest.fixture
def make_gateway(sandbox, engine):
    def make(**options):
        settings, refresh_token = sandbox_settings(sandbox.data_dir / "connection.json",
                                                   timeout_seconds=options.pop("timeout_seconds", 5.0))
        gateway = build_gateway(settings, engine, TokenCipher(options.pop("key", None) or new_key()),
                                bootstrap_refresh_token=sandbox.fresh_refresh_token(), **options)
        gateway.sleep = RecordingSleep()
        gateway.backoff_max = 0.2
        return gateway

    return make

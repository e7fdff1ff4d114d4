"""Two processes whose access token expired at once: one refresh, both keep working."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from qb_pipeline.core.tokens import StoredTokens
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.db.token_store import DatabaseTokenStore

# Run by fresh interpreters (two processes are the point), so it imports what it uses itself.
WORKER = textwrap.dedent("""
    import sys, time
    from qb_pipeline.db.session import make_engine
    from qb_pipeline.db.token_cipher import TokenCipher
    from qb_pipeline.quickbooks.factory import build_gateway, sandbox_settings
    url, key, connection_file, start_at = sys.argv[1:5]
    settings, _ = sandbox_settings(connection_file)
    gateway = build_gateway(settings, make_engine(url), TokenCipher(key))
    time.sleep(max(0.0, float(start_at) - time.time()))  # both ask at the same moment
    for _ in range(3):
        gateway.count("Customer")
    print("refreshes", gateway.stats.refreshes)
""")


def test_two_processes_refreshing_at_once_both_keep_working(sandbox, database_url, engine):
    sandbox.settings(rotation_grace=0)  # a superseded refresh token dies at once: races show
    key = new_key()
    store = DatabaseTokenStore(engine, TokenCipher(key))
    store.save(StoredTokens(sandbox.realm_id, refresh_token=sandbox.fresh_refresh_token()))  # no access token yet
    sandbox.reset_counters()
    start_at = str(time.time() + 3)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, database_url, key, str(sandbox.data_dir / "connection.json"), start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-1500:] for _out, err in results]
    assert sorted(out.split()[-1] for out, _err in results) == ["0", "1"]  # exactly one of them refreshed
    assert sandbox.counters()["token_calls"] == 1

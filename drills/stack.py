"""One drill's world: a sandbox, a project database, a Dagster home, and run processes started from it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.harness import build_shop, connect, drop_database, fresh_database
from benchmarks.sandbox_process import PROJECT, Sandbox
from qb_pipeline.core.tokens import StoredTokens
from qb_pipeline.db.models import Order, OrderStatus
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.db.token_store import DatabaseTokenStore
from qb_pipeline.db.types import utcnow
from qb_pipeline.devstack import DAGSTER_YAML
from qb_pipeline.sync.invoices import STALE_CLAIM_AFTER


class Stack:
    def __init__(self, database_kind: str, *, customers: int = 200, items: int = 50) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="qbp-drill-"))
        self.sandbox = Sandbox()
        self.database_url = fresh_database(database_kind)
        self.key = new_key()
        self.engine, self.gateway = connect(self.sandbox, self.database_url, key=self.key)
        connection = self.sandbox.connection
        self.secrets = {
            "client secret": connection["client_secret"],
            "encryption key": self.key,
            "webhook verifier token": connection["webhook_verifier_token"],
            "sandbox control token": connection["control_token"],
        }
        self.outputs: list[str] = []  # everything the run processes printed
        dagster_home = self.home / "dagster"
        dagster_home.mkdir()
        shutil.copy(PROJECT / DAGSTER_YAML, dagster_home / "dagster.yaml")
        self.env = {
            **os.environ,
            "QB_DATABASE_URL": self.database_url,
            "QB_ENVIRONMENT": "sandbox-local",
            "QB_SANDBOX_CONNECTION_FILE": str(self.sandbox.connection_file),
            "QB_TOKEN_KEY": self.key,
            "QB_DATA_DIR": str(self.home / "data"),
            "DAGSTER_HOME": str(dagster_home),
            "QB_TIMEOUT_SECONDS": "2",
            "QB_THROTTLE_WAIT_SECONDS": "0.5",
            "QB_REQUEST_LIMIT_SECONDS": "5",  # the sandbox answers a hung request within 3 s
            "PYTHONPATH": str(PROJECT),
        }
        build_shop(self.sandbox, self.gateway, self.engine, customers=customers, items=items)
        self.note_tokens()

    # -- run processes ---------------------------------------------------------------------------------
    def start_run(self, job: str = "push_invoices_job", **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "drills.run_worker", job],
            cwd=PROJECT,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def finish_run(self, process: subprocess.Popen, timeout: float = 900) -> dict:
        output, _ = process.communicate(timeout=timeout)
        self.outputs.append(output)
        self.note_tokens()
        last = output.strip().splitlines()[-1] if output.strip() else ""
        try:
            return json.loads(last)
        except ValueError:
            return {"success": False, "errors": [f"the run process ended with code {process.returncode}"]}

    def run(self, job: str = "push_invoices_job") -> dict:
        return self.finish_run(self.start_run(job))

    def kill_mid_batch(self, process: subprocess.Popen, *, after_batches: int) -> None:
        """SIGKILL `process` while QuickBooks holds the answer to a batch it has already applied."""
        self.wait(lambda: self.calls("batch 200") >= after_batches or process.poll() is not None, "batches")
        self.sandbox.control(
            "POST", "inject", {"kind": "timeout", "count": 1, "path_contains": "/batch", "seconds": 600}
        )
        self.wait(
            lambda: (
                not any(i["seconds"] == 600 for i in self.sandbox.control("GET", "inject")["active"])
                or process.poll() is not None
            ),
            "the batch to be in flight",
        )
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate()
        self.outputs.append(output)

    # -- what a person (or time) would do --------------------------------------------------------------
    def let_time_pass(self) -> None:
        """What 15 minutes and the retry back-off would do: claims of dead runs go stale, retries fall due."""
        past = utcnow() - STALE_CLAIM_AFTER - timedelta(minutes=1)
        with session_scope(self.engine) as session:
            session.execute(sa.update(Order).where(Order.status == OrderStatus.PUSHING).values(claimed_at=past))
            session.execute(
                sa.update(Order)
                .where(Order.status == OrderStatus.FAILED, Order.next_attempt_at.is_not(None))
                .values(next_attempt_at=past)
            )

    def reconnect(self) -> None:
        """What `qb-pipeline auth connect` does after a revocation: new tokens, stored encrypted."""
        minted = self.sandbox.control("POST", "tokens/mint")
        store = DatabaseTokenStore(self.engine, TokenCipher(self.key))
        with store.locked(self.gateway.realm_id) as locked:
            locked.save(
                StoredTokens(
                    self.gateway.realm_id,
                    refresh_token=minted["refresh_token"],
                    access_token=minted.get("access_token"),
                )
            )
        self.note_tokens()

    def note_tokens(self) -> None:
        """Remember every token the database has held, for the secrets scan."""
        stored = DatabaseTokenStore(self.engine, TokenCipher(self.key)).load(self.gateway.realm_id)
        if stored is not None:
            for kind, token in (("refresh token", stored.refresh_token), ("access token", stored.access_token)):
                if token:
                    self.secrets[f"{kind} …{token[-4:]}"] = token

    # -- observations ------------------------------------------------------------------------------------
    def calls(self, key: str) -> int:
        return self.sandbox.control("GET", "counters")["calls"].get(key, 0)

    def statuses(self) -> dict[str, int]:
        with session_scope(self.engine) as session:
            return {
                s.value: n for s, n in session.execute(sa.select(Order.status, sa.func.count()).group_by(Order.status))
            }

    def run_retries(self, since: int = 0) -> int:
        """Retries logged by the runs since the `since`-th, killed runs included: the gateway's and the
        invoice path's re-sends of a batch whose outcome was unknown (each logs '…; retry n/m …')."""
        return sum(output.count("; retry ") for output in self.outputs[since:])

    def injected_since(self, before: dict[str, int]) -> dict[str, int]:
        """Faults the sandbox injected since `before` (its counters only grow)."""
        now = self.sandbox.control("GET", "inject")["injected"]
        return {kind: count - before.get(kind, 0) for kind, count in now.items() if count > before.get(kind, 0)}

    @staticmethod
    def wait(predicate, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        self.engine.dispose()
        self.sandbox.stop()
        drop_database(self.database_url)

"""The sandbox seen from outside, in one place: start it as a process, wait until it listens, call its
control API (with the control token from connection.json), stop it. `make dev`, the test fixtures, the
benchmarks and the drills all use this."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Self

START_SECONDS = 300  # seeding 100,000 records takes a while on this machine


class SandboxNotStarted(RuntimeError):
    pass


def wait_for_connection(
    connection_file: Path, process: subprocess.Popen, *, written_after: float | None, timeout: float = START_SECONDS
) -> dict:
    """Wait until the sandbox `process` has (re)written its connection file; its contents.

    The file is written once the server listens. A file left from an earlier start is not taken for
    this one: it must be newer than `written_after` (its mtime before the start, None when it had none).
    """
    deadline = time.monotonic() + timeout
    while True:
        if connection_file.exists() and (written_after is None or connection_file.stat().st_mtime > written_after):
            try:
                return json.loads(connection_file.read_text())
            except ValueError:
                pass  # caught between its write and its rename: read it again
        if process.poll() is not None:
            raise SandboxNotStarted(f"the sandbox exited with code {process.returncode} before it listened")
        if time.monotonic() > deadline:
            raise SandboxNotStarted(f"the sandbox did not write {connection_file} within {timeout:.0f} s")
        time.sleep(0.05)


def serve_command(
    data_dir: Path, *, host: str = "127.0.0.1", port: int = 0, seed: str = "none", extra: Sequence[str] = ()
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "qb_pipeline.sandbox",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--data",
        str(data_dir),
        "--seed",
        seed,
        *extra,
    ]


class SandboxClient:
    """Calls to a running sandbox's control API, authorized with its control token."""

    def __init__(self, connection_file: Path) -> None:
        self.connection_file = Path(connection_file)
        self.connection: dict = json.loads(self.connection_file.read_text())
        self.url: str = self.connection["sandbox_url"]
        self.realm_id: str = self.connection["realm_id"]
        self.company_path = ""  # "companies/{realm}/" in a view of one company (`company`)

    def control(
        self, method: str, path: str, payload: dict | None = None, *, timeout: float = 600, decimals: bool = False
    ):
        """One /_sandbox/ call (for this client's company); the JSON answer (numbers as Decimal when
        `decimals`). Raises on HTTP errors."""
        request = urllib.request.Request(
            f"{self.url}/_sandbox/{self.company_path}{path}",
            method=method,
            data=json.dumps(payload, default=_plain).encode() if payload is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.connection['control_token']}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response, parse_float=Decimal if decimals else float)

    # -- companies ---------------------------------------------------------------------------------
    def realm_ids(self) -> list[str]:
        """The sandbox's companies, the first the one a caller naming none gets."""
        return [company["realm_id"] for company in self._root().control("GET", "companies")["companies"]]

    def add_company(self, seed: str = "none", *, customers: int = 0, items: int = 0) -> str:
        """A new company (POST /_sandbox/companies); its realm id."""
        options = {"seed": seed, "customers": customers, "items": items}
        return self._root().control("POST", "companies", options)["realm_id"]

    def company(self, realm_id: str) -> Self:
        """This client for one company: its control calls go to /_sandbox/companies/{realm_id}/…, its
        `connection` is that company's (realm id and a fresh refresh token)."""
        view = copy.copy(self)
        view.company_path = f"companies/{realm_id}/"
        view.connection = view.control("GET", "connection")
        view.realm_id = realm_id
        return view

    def _root(self) -> SandboxClient:
        root = copy.copy(self)
        root.company_path = ""
        return root


class SandboxProcess(SandboxClient):
    """A sandbox subprocess on a free port (or the one given), stopped with `stop()`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        seed: str = "none",
        port: int = 0,
        extra: Sequence[str] = (),
        cwd: Path | None = None,
        companies: int = 1,
    ) -> None:
        """Its output goes to `<data_dir>.log` beside the state folder (a pipe nobody reads would fill).
        `companies`: how many it serves (`serve --companies`); `company(realm_id)` is a client of one."""
        if companies != 1:
            extra = [*extra, "--companies", str(companies)]
        self.data_dir = Path(data_dir)
        connection_file = self.data_dir / "connection.json"
        before = connection_file.stat().st_mtime if connection_file.exists() else None
        self.log_file = self.data_dir.with_name(self.data_dir.name + ".log")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                serve_command(self.data_dir, port=port, seed=seed, extra=extra),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_connection(connection_file, self.process, written_after=before)
        except SandboxNotStarted as error:
            self.stop()
            raise SandboxNotStarted(f"{error}: {self.log_file.read_text()[-2000:]}") from None
        super().__init__(connection_file)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # a call left hanging: no graceful shutdown to wait for
            self.process.kill()
            self.process.wait(10)


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")

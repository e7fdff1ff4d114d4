"""A sandbox subprocess for benchmarks (the same server tests and make dev use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback only


class Sandbox:
    def __init__(self, *extra: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qbp-bench-"))
        self.process = subprocess.Popen([sys.executable, "-m", "qb_pipeline.sandbox", "serve", "--port", "0",
                                         "--data", str(self.dir / "sandbox"), "--seed", "none", *extra],
                                        cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        connection = self.dir / "sandbox" / "connection.json"
        deadline = time.monotonic() + 300
        while not connection.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the sandbox did not start")
            time.sleep(0.1)
        self.connection_file = connection
        self.url = json.loads(connection.read_text())["sandbox_url"]

    def control(self, method: str, path: str, payload: dict | None = None) -> dict:
        request = urllib.request.Request(f"{self.url}/_sandbox/{path}", method=method,
                                         data=json.dumps(payload).encode() if payload is not None else None,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.load(response)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # a drill left a call hanging: no graceful shutdown to wait for
            self.process.kill()
            self.process.wait(10)

"""A sandbox subprocess for benchmarks and drills: `qb_pipeline.sandbox.client`, in a fresh folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from qb_pipeline.sandbox.client import SandboxNotStarted, SandboxProcess

PROJECT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback only


class Sandbox(SandboxProcess):
    def __init__(self, *extra: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qbp-bench-"))
        try:
            super().__init__(self.dir / "sandbox", extra=extra, cwd=PROJECT)
        except SandboxNotStarted as error:
            raise SystemExit(f"the sandbox did not start: {error}") from None

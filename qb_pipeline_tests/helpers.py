"""Small helpers for tests that run real processes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from qb_pipeline.dev_process import answers as http_ok
from qb_pipeline.dev_process import free_port

__all__ = ["PROJECT_DIR", "free_port", "http_ok", "port_open", "wait_for"]

PROJECT_DIR = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0

"""`qb-pipeline dev` started as a process, in one place: the tests and the benchmarks run the whole local
stack (sandbox, webhook receiver, dagster dev with its daemon) in a folder of its own, on free ports, up
to its UI, and stop it with Ctrl-C as a person would.

Its output goes to `stack.log` in that folder, never to a pipe: a pipe nobody reads fills at 64 KB, and
then every process of the stack blocks on its next log line (seen: the daemon stopped launching runs).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qb_pipeline.sandbox.client import SandboxClient

UI_START_SECONDS = 180
STOP_SECONDS = 60
# Settings of the calling shell that would point the stack outside its own folder.
OUTSIDE_SETTINGS = ("QB_DATABASE_URL", "QB_ENVIRONMENT", "QB_SANDBOX_CONNECTION_FILE", "DAGSTER_HOME")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """Whether `url` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class DevStackNotStarted(RuntimeError):
    pass


@dataclass
class DevStack:
    home: Path
    process: subprocess.Popen
    env: dict[str, str]
    ui_port: int
    sandbox_port: int

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def log_file(self) -> Path:
        return self.home / "stack.log"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.home / 'data' / 'qb_pipeline.sqlite'}"

    @cached_property
    def sandbox(self) -> SandboxClient:
        return SandboxClient(self.home / "data" / "sandbox" / "connection.json")

    def output(self, last_chars: int = 3000) -> str:
        """The end of what the stack printed."""
        return self.log_file.read_text(errors="replace")[-last_chars:] if self.log_file.exists() else ""

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it: to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def stop(self) -> None:
        try:
            self.interrupt()
            self.process.wait(STOP_SECONDS)
        except ProcessLookupError:
            pass  # stopped already
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


@contextmanager
def running_dev_stack(home: Path, **extra_env: str) -> Iterator[DevStack]:
    """`qb-pipeline dev` with its data and Dagster home under `home`, up to its UI; stopped afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    ui_port, sandbox_port = free_port(), free_port()
    env = {**os.environ, "QB_DATA_DIR": str(home / "data"), "QB_WEBHOOK_PORT": str(free_port()), **extra_env}
    for name in OUTSIDE_SETTINGS:
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "qb_pipeline.cli",
        "dev",
        "--port",
        str(ui_port),
        "--sandbox-port",
        str(sandbox_port),
        "--data-dir",
        str(home / "data"),
        "--dagster-home",
        str(home / "dagster"),
    ]
    with open(home / "stack.log", "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack = DevStack(home=home, process=process, env=env, ui_port=ui_port, sandbox_port=sandbox_port)
    try:
        deadline = time.monotonic() + UI_START_SECONDS
        while not answers(f"{stack.ui}/server_info"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise DevStackNotStarted(f"the Dagster UI did not come up; the stack printed:\n{stack.output()}")
            time.sleep(0.25)
        yield stack
    finally:
        stack.stop()

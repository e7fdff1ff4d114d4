"""The embedded default stack behind `make dev`: the project database and Dagster home made ready, then
the local QuickBooks sandbox and the webhook receiver (with sandbox-local), `dagster dev`, and demo
orders when QB_DEMO_ORDERS_PER_MINUTE asks for them.

One stack per data folder and Dagster home (a lock taken before anything is touched; a second start
says who holds it and changes nothing). The settings and the ports are checked before any process
starts. Everything it starts is a child process in its own process group, and every process under it
(Dagster's webserver, daemon, code server and runs) is written in the stack's record (stack_record.py),
which `qb-pipeline status` reads. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops them all, and so does any one
of them exiting, either folder being deleted, or any failure after the first start: SIGINT, GRACE_SECONDS
to finish, then SIGKILL for whatever is left of the whole tree; the command returns only once every one of
them is gone. Its settings come from config.py; the children get the environment as it is, with the data
folder and Dagster home it chose.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import psutil

from qb_pipeline import config
from qb_pipeline.commands.common import make_database
from qb_pipeline.core import defaults
from qb_pipeline.db.session import redact_url
from qb_pipeline.sandbox.client import (
    SandboxNotStarted,
    serve_command,
    wait_for_connection,
)
from qb_pipeline.sandbox.screens import PATH as SCREENS_PATH
from qb_pipeline.stack_record import StackRecorder, alive_processes, become_subreaper

GRACE_SECONDS = 2.0  # after SIGINT: Dagster's daemon and webserver stop in 1-2 s, its code server never sooner
KILLED_SECONDS = 10.0  # after SIGKILL: a process is gone in milliseconds; this only bounds a stuck one
WATCH_SECONDS = 1.0  # how often processes that appeared under the stack are written in its record
DAGSTER_YAML = Path("deploy") / "dagster.yaml"
# SIGHUP: its terminal closed; the children, in sessions of their own, would live on.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # the instance settings, copied into DAGSTER_HOME
SANDBOX_START_SECONDS = 60
LOCK_FILE = ".qb-pipeline-dev.lock"


# What a second stack beside a running one needs, as `make dev` takes it (the environment, not flags).
SECOND_STACK = (
    "a second stack beside it needs its own QB_DATA_DIR, DAGSTER_HOME and ports, e.g. QB_DATA_DIR=.data2 "
    "DAGSTER_HOME=.dagster_home2 QB_DAGSTER_URL=http://127.0.0.1:3001 QB_SANDBOX_PORT=8775 QB_WEBHOOK_PORT=8777 "
    "make dev"
)


class StackLock:
    """An exclusive lock on a folder for the life of this process (released by the OS if it dies).
    `what` and `variable`: what the folder is to a person, and the setting that chooses it."""

    def __init__(self, folder: Path, what: str, variable: str) -> None:
        self.path = folder / LOCK_FILE
        self.what, self.variable = what, variable
        self._handle = None

    def acquire(self, holder: str) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            held_by = handle.read().strip() or "another process"
            handle.close()
            raise click.ClickException(
                f"make dev is already running with the {self.what} {self.path.parent} ({held_by}): stop it with "
                f"Ctrl-C in its terminal, or give this one another {self.variable} ({SECOND_STACK})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(holder)
        handle.flush()
        self._handle = handle

    def folder_gone(self) -> bool:
        """Whether the folder was deleted (or replaced) since the lock was taken: its lock file is not ours."""
        try:
            now = self.path.stat()
        except FileNotFoundError:
            return True
        held = os.fstat(self._handle.fileno())
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Child:
    name: str
    process: subprocess.Popen


@dataclass
class DevStack:
    project_dir: Path
    data_dir: Path
    dagster_home: Path
    host: str = "127.0.0.1"
    port: int = int(defaults.DAGSTER_URL.rsplit(":", 1)[1])
    sandbox_port: int = defaults.SANDBOX_PORT
    webhook_port: int = defaults.WEBHOOK_PORT
    with_sandbox: bool = True
    children: list[Child] = field(default_factory=list)
    locks: list[StackLock] = field(default_factory=list)
    record: StackRecorder | None = None

    def prepare(self) -> dict[str, str]:
        """Upgrade the database and lay out DAGSTER_HOME; returns the environment for the children."""
        for folder in (self.data_dir, self.dagster_home):
            # The database, the token key, Dagster's runs and their logs: its owner's only, an older install's too.
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        env = dict(os.environ)
        env["QB_DATA_DIR"] = str(self.data_dir)
        env["DAGSTER_HOME"] = str(self.dagster_home)
        os.environ.update(QB_DATA_DIR=env["QB_DATA_DIR"])
        click.echo(f"[dev] upgrading the project database {redact_url(config.database_url())}")
        make_database(config.settings())
        # Dagster reads dagster.yaml from DAGSTER_HOME only: keep the home's copy current. (The project's own
        # lives in deploy/: `dagster dev` warns about a dagster.yaml in the folder it starts in.)
        shutil.copyfile(self.project_dir / DAGSTER_YAML, self.dagster_home / "dagster.yaml")
        return env

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Child:
        process = subprocess.Popen(
            list(argv),
            cwd=self.project_dir,
            env=env,
            start_new_session=True,  # own group: we stop it
        )
        child = Child(name, process)
        self.children.append(child)
        if self.record is not None:
            self.record.add(psutil.Process(process.pid), name)
        return child

    def start_sandbox(self, env: dict[str, str]) -> Path:
        """Start the local QuickBooks sandbox (demo data on first start) and wait for its connection file."""
        sandbox_dir = self.data_dir / "sandbox"
        connection_file = sandbox_dir / "connection.json"
        # Left as it is until the new sandbox rewrites it: a failed start must not break a running one.
        before = connection_file.stat().st_mtime if connection_file.exists() else None
        receiver = f"http://127.0.0.1:{self.webhook_port}/quickbooks/webhooks"
        child = self.start(
            "sandbox",
            serve_command(sandbox_dir, port=self.sandbox_port, seed="demo", extra=["--webhook-url", receiver]),
            env,
        )
        try:
            wait_for_connection(connection_file, child.process, written_after=before, timeout=SANDBOX_START_SECONDS)
        except SandboxNotStarted:
            raise click.ClickException(
                f"the QuickBooks sandbox did not start (port {self.sandbox_port} busy? "
                "try `make dev` with QB_SANDBOX_PORT set to another port)"
            ) from None
        return connection_file

    def run(self) -> int:
        holder = f"pid {os.getpid()}, UI http://{self.host}:{self.port}"
        self.locks = locks = [
            StackLock(self.data_dir, "data folder", "QB_DATA_DIR"),
            StackLock(self.dagster_home, "Dagster home", "DAGSTER_HOME"),
        ]
        for lock in locks:
            lock.acquire(holder)
        try:
            busy = [
                f"{what}'s {port} (choose another with {setting})"
                for what, host, port, setting in (
                    ("the Dagster UI", self.host, self.port, f"QB_DAGSTER_URL=http://{self.host}:{self.port + 1}"),
                    ("the sandbox", "127.0.0.1", self.sandbox_port, f"QB_SANDBOX_PORT={self.sandbox_port + 10}"),
                    (
                        "the webhook receiver",
                        "127.0.0.1",
                        self.webhook_port,
                        f"QB_WEBHOOK_PORT={self.webhook_port + 10}",
                    ),
                )
                if (what == "the Dagster UI" or self.with_sandbox) and not _port_free(host, port)
            ]
            if busy:
                raise click.ClickException(f"port already in use: {', '.join(busy)}")
            return self._run()
        finally:
            for lock in locks:
                lock.release()

    def _run(self) -> int:
        def request_stop(_signum, _frame) -> None:
            raise KeyboardInterrupt  # during start-up as well: whatever started so far is stopped below

        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, request_stop)
        become_subreaper()
        demo, exit_code = None, 0
        try:
            env = self.prepare()
            self.record = StackRecorder(
                self.data_dir, dagster_home=self.dagster_home, ui=f"http://{self.host}:{self.port}"
            )
            if self.with_sandbox:
                self._start_sandbox_and_webhooks(env)
            self._start_dagster(env)
            demo = self.start_demo_orders()
            exit_code = self._watch()
        except KeyboardInterrupt:
            pass
        finally:
            for stop_signal in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
                signal.signal(stop_signal, signal.SIG_IGN)
            if demo is not None:
                demo.stop()
            self.stop()
        return exit_code

    def _start_sandbox_and_webhooks(self, env: dict[str, str]) -> None:
        """The sandbox, then the webhook receiver; `env` gains what the pipeline needs to reach the sandbox."""
        connection_file = self.start_sandbox(env)
        env.setdefault("QB_ENVIRONMENT", "sandbox-local")
        env.setdefault("QB_SANDBOX_CONNECTION_FILE", str(connection_file))
        if env["QB_ENVIRONMENT"] == "sandbox-local":
            _list_the_sandbox_company(connection_file)
        click.echo(f"[dev] QuickBooks sandbox on http://127.0.0.1:{self.sandbox_port} ({connection_file})")
        click.echo(
            f"[dev] QuickBooks screens (add customers and items, see invoices) on "
            f"http://127.0.0.1:{self.sandbox_port}{SCREENS_PATH}: sign in with control_token from that file"
        )
        # The sandbox notifies changes like Intuit does, signed with the token in its connection file.
        self.start(
            "webhooks",
            [sys.executable, "-m", "qb_pipeline.cli", "webhooks", "serve", "--port", str(self.webhook_port)],
            env,
        )
        click.echo(f"[dev] webhook receiver on http://127.0.0.1:{self.webhook_port}/quickbooks/webhooks")

    def _start_dagster(self, env: dict[str, str]) -> None:
        self.start(
            "dagster",
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-w",
                str(self.project_dir / "workspace.yaml"),
            ],
            env,
        )
        click.echo(f"[dev] Dagster UI on http://{self.host}:{self.port} — Ctrl-C stops everything")

    def _watch(self) -> int:
        """Waits until a process exits or a folder of the stack is deleted: make dev's exit code. (Ctrl-C and
        the stop signals raise KeyboardInterrupt.)"""
        watched = 0.0
        while True:
            if time.monotonic() - watched >= WATCH_SECONDS:
                self.record.watch()
                watched = time.monotonic()
            exited = next((c for c in self.children if c.process.poll() is not None), None)
            if exited is not None:
                click.echo(f"[dev] {exited.name} exited with code {exited.process.returncode}", err=True)
                return exited.process.returncode or 1
            # Deleted under a running stack, its database would go on being read from the deleted file
            # by open connections, its sandbox be unreachable: stop, and say why, once.
            gone = next((lock for lock in self.locks if lock.folder_gone()), None)
            if gone is not None:
                click.echo(
                    f"[dev] the {gone.what} {gone.path.parent} was deleted while make dev ran: stopping "
                    "everything (make dev again starts with a new one)",
                    err=True,
                )
                return 1
            time.sleep(0.2)

    def start_demo_orders(self):
        per_minute = config.settings().demo_orders_per_minute
        if per_minute <= 0 or not self.with_sandbox:
            return None
        from qb_pipeline.db.session import engine_for
        from qb_pipeline.demo import DemoOrders

        demo = DemoOrders(engine_for(config.database_url()), per_minute)
        demo.start()
        click.echo(f"[dev] adding {per_minute:g} demo orders a minute (QB_DEMO_ORDERS_PER_MINUTE)")
        return demo

    def stop(self) -> None:
        """SIGINT each child's process group (Dagster shuts its daemon and webserver down, a run marks itself
        interrupted); whatever of the whole tree is still there after GRACE_SECONDS gets SIGKILL. Returns once
        every process is gone, so the prompt never comes back before the stack is down."""
        if self.record is not None:
            self.record.mark("stopping")
        tree = {process.pid: process for process in (self.record.watch() if self.record else _descendants())}
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGINT)
        self._wait_gone(list(tree.values()), GRACE_SECONDS)
        # Processes orphaned meanwhile came to us (subreaper), or never left our children's groups.
        tree.update((process.pid, process) for process in _descendants())
        for process in alive_processes(list(tree.values())):
            try:
                process.kill()
            except psutil.Error:
                pass
        for child in self.children:
            _signal_group(child.process, signal.SIGKILL)
        left = self._wait_gone(list(tree.values()), KILLED_SECONDS)
        if self.record is not None:
            if not left:
                self.record.mark("stopped")
            self.record.close()
        if left:
            click.echo(f"[dev] could not stop: {', '.join(f'pid {process.pid}' for process in left)}", err=True)
        click.echo("[dev] stopped")

    def _wait_gone(self, processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
        """Wait until none of `processes` runs, at most `seconds`; returns those still running. Reaps our
        children as they exit (orphans of the stack are ours too, as their subreaper), so none stays a zombie."""
        deadline = time.monotonic() + seconds
        started = {child.process.pid: child.process for child in self.children}
        while True:
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                if pid in started:  # what Popen.wait() would have recorded
                    started[pid].returncode = os.waitstatus_to_exitcode(status)
            left = alive_processes(processes)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.02)


def _list_the_sandbox_company(connection_file: Path) -> None:
    """`qb-pipeline companies` lists the bundled sandbox's company from the start: its first sync connects it."""
    from qb_pipeline.db.companies import record_if_missing
    from qb_pipeline.db.session import engine_for, session_scope

    realm = json.loads(connection_file.read_text())["realm_id"]
    with session_scope(engine_for(config.database_url())) as session:
        record_if_missing(session, realm, "sandbox-local")


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass

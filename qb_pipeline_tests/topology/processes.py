"""The processes of the production topology, each started as a deployment starts it, in a folder of its own.

Only the code server (and the runs it starts) gets the project's settings and secrets: the webserver and
the daemon get Dagster's instance and nothing else, as on Kubernetes, where they reach the code location
over gRPC. Every process runs in a session of its own, so one can be SIGKILLed with all it started.
Output goes to a log file per process (a pipe nobody reads fills at 64 KB and blocks the writer).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from qb_pipeline.db.session import make_engine, normalize_url
from qb_pipeline.db.token_cipher import TokenCipher, new_key
from qb_pipeline.dev_process import answers, free_port
from qb_pipeline.devstack import DAGSTER_YAML
from qb_pipeline.quickbooks.factory import connect, sandbox_settings
from qb_pipeline.sandbox.client import SandboxProcess

PROJECT = Path(__file__).resolve().parents[2]
POSTGRES_URL_VARIABLE = "QB_TEST_POSTGRES_URL"
INSTANCE_SETTINGS = PROJECT / DAGSTER_YAML
LOCATION = "qb_pipeline"
START_SECONDS = 120
STOP_SECONDS = 10
SCRIPTS = Path(sys.executable).parent  # the console scripts a deployment runs: dagster, dagster-daemon …
DAGSTER = [str(SCRIPTS / "dagster")]
QB_CLI = [sys.executable, "-m", "qb_pipeline.cli"]


class TopologyError(RuntimeError):
    pass


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


@dataclass
class Postgres:
    """A PostgreSQL server where databases may be created (trust auth, or a password in the URL)."""

    server_url: str
    created: list[str] = field(default_factory=list)

    def _admin(self) -> sa.Engine:
        return make_engine(self.server_url).execution_options(isolation_level="AUTOCOMMIT")

    def create(self, name: str) -> str:
        admin = self._admin()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        self.created.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        return normalize_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def drop_created(self) -> None:
        admin = self._admin()
        with admin.connect() as connection:
            for name in self.created:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        self.created.clear()

    def dagster_env(self, name: str) -> dict[str, str]:
        """What deploy/dagster.yaml's storage block reads: the instance's database, from the environment."""
        url = sa.make_url(self.server_url)
        if (url.port or 5432) != 5432:
            raise TopologyError(f"{DAGSTER_YAML}'s storage block uses port 5432; this server is on {url.port}")
        return {
            "DAGSTER_PG_HOST": url.host or "127.0.0.1",
            "DAGSTER_PG_USER": url.username or "postgres",
            "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_DB": name,
        }


class Topology:
    """The whole topology under `folder`; `with Topology(...) as topology:` starts it and stops it."""

    def __init__(
        self,
        folder: Path,
        server_url: str,
        *,
        code_settings: dict[str, str] | None = None,
        companies: int = 1,
        sandbox_options: tuple[str, ...] = (),
        connect_at_start: bool = True,
    ) -> None:
        self.companies = companies  # how many the sandbox serves
        self.sandbox_options = sandbox_options  # `sandbox serve` flags, each company's: --customers, --limits …
        self.connect_at_start = connect_at_start  # every company connected before the code location starts
        self.folder = Path(folder)
        self.postgres = Postgres(server_url)
        tag = uuid.uuid4().hex[:10]
        self.project_database, self.dagster_database = f"qbp_topology_{tag}", f"qbp_topology_{tag}_dagster"
        self.ui_port, self.code_port = free_port(), free_port()
        self.dagster_home = self.folder / "dagster_home"
        self.code_settings = code_settings or {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.sandbox: SandboxProcess | None = None
        self._token_key = new_key()  # what a deployment keeps in its secret store

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def database_url(self) -> str:
        return self.postgres.url(self.project_database)

    @property
    def dagster_database_url(self) -> str:
        return self.postgres.url(self.dagster_database)

    # -- start -----------------------------------------------------------------------------------------
    def __enter__(self) -> Topology:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.postgres.create(self.project_database)
        self.postgres.create(self.dagster_database)
        self.sandbox = SandboxProcess(
            self.folder / "sandbox", seed="demo", cwd=PROJECT, companies=self.companies, extra=self.sandbox_options
        )
        self._lay_out_dagster_home()
        self.cli("db", "upgrade")  # a deployment's release step, before the code location starts
        if self.connect_at_start:
            self.connect_companies(self.sandbox.realm_ids())
        self.launch("code-server", self._code_server_command(), self.code_env)
        self._wait(self._code_server_answers, "the code server to load the definitions")
        for name in ("webserver", "daemon"):
            self.start_dagster(name)
        self._wait(lambda: answers(f"{self.ui}/server_info"), "the Dagster webserver")

    def _lay_out_dagster_home(self) -> None:
        """deploy/dagster.yaml (run queue, concurrency, monitoring, retries), its PostgreSQL storage block
        uncommented as the README says."""
        self.dagster_home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(with_postgres_storage(INSTANCE_SETTINGS.read_text()))
        # The webserver and the daemon load the code location from the code server, never import it.
        (self.folder / "workspace.yaml").write_text(
            "load_from:\n"
            "  - grpc_server:\n"
            "      host: 127.0.0.1\n"
            f"      port: {self.code_port}\n"
            f"      location_name: {LOCATION}\n"
        )

    def connect_companies(self, realms: list[str]) -> None:
        """These sandbox companies connected: each one's bootstrap refresh token (connections/<realm>.json)
        stored encrypted in the project database's qb_tokens, as a company's first run stores it;
        companies_sensor then gives each its partition."""
        engine = make_engine(self.database_url)
        try:
            for realm in realms:
                settings, refresh_token = sandbox_settings(self.sandbox.connection_file, realm_id=realm)
                connect(settings, engine, TokenCipher(self._token_key), bootstrap_refresh_token=refresh_token)
        finally:
            engine.dispose()

    def _code_server_command(self) -> list[str]:
        return [
            *DAGSTER,
            "code-server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.code_port),
            "--module-name",
            "qb_pipeline.definitions",
            "--location-name",
            LOCATION,
        ]

    def _code_server_answers(self) -> bool:
        health = subprocess.run(
            [*DAGSTER, "api", "grpc-health-check", "--port", str(self.code_port)],
            capture_output=True,
            env=self.dagster_env,
            timeout=30,
        )
        return health.returncode == 0

    def start_dagster(self, name: str) -> None:
        """`webserver` or `daemon`, on the workspace that points at the code server."""
        workspace = ["--workspace", str(self.folder / "workspace.yaml")]
        commands = {
            "webserver": [SCRIPTS / "dagster-webserver", "--host", "127.0.0.1", "--port", str(self.ui_port)],
            "daemon": [SCRIPTS / "dagster-daemon", "run"],
        }
        # The daemon starts the runs (deploy/dagster.yaml's WarmRunLauncher), in its own environment: the
        # code location's, as on one machine. The webserver needs Dagster's instance only.
        env = self.code_env if name == "daemon" else self.dagster_env
        self.launch(name, [str(part) for part in commands[name]] + workspace, env)

    # -- environments ----------------------------------------------------------------------------------
    @property
    def dagster_env(self) -> dict[str, str]:
        """Dagster's instance only: no project setting, no QuickBooks secret."""
        env = {name: value for name, value in os.environ.items() if not name.startswith(("QB_", "DAGSTER_"))}
        return {**env, "DAGSTER_HOME": str(self.dagster_home), **self.postgres.dagster_env(self.dagster_database)}

    @property
    def code_env(self) -> dict[str, str]:
        """The code location's: the instance, the project database, the sandbox, the token key."""
        return {
            **self.dagster_env,
            "PYTHONPATH": str(PROJECT),
            "QB_DATA_DIR": str(self.folder / "data"),
            "QB_DATABASE_URL": self.database_url,
            "QB_ENVIRONMENT": "sandbox-local",
            "QB_SANDBOX_CONNECTION_FILE": str(self.sandbox.connection_file),
            "QB_TOKEN_KEY": self._token_key,
            "QB_DAGSTER_URL": self.ui,
            **self.code_settings,
        }

    # -- processes -------------------------------------------------------------------------------------
    def launch(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "a") as log:
            process = subprocess.Popen(
                argv, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the process `name` and everything in its session, as a machine losing it would."""
        process = self.processes.pop(name)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(STOP_SECONDS)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`qb-pipeline ARGS` as an operator runs it beside the code location (its settings)."""
        done = subprocess.run(
            [*QB_CLI, *args], cwd=PROJECT, env=self.code_env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise TopologyError(f"qb-pipeline {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def secrets(self) -> dict[str, str]:
        """What must never reach a log: the token key and the sandbox app's secrets."""
        connection = self.sandbox.connection if self.sandbox else {}
        found = {"token key": self._token_key}
        for name in ("client_secret", "control_token", "webhook_verifier_token"):
            if connection.get(name):
                found[name] = connection[name]
        for own in sorted((self.folder / "sandbox" / "connections").glob("*.json")):  # each company's token
            found[f"refresh token of {own.stem}"] = json.loads(own.read_text())["refresh_token"]
        return found

    def logs(self) -> dict[str, str]:
        """Everything every process printed (the runs print into the daemon's log: it starts them)."""
        return {path.name: path.read_text(errors="replace") for path in sorted(self.folder.glob("*.log"))}

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _wait(self, predicate, what: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not predicate():
            exited = [name for name, process in self.processes.items() if process.poll() is not None]
            if exited or time.monotonic() > deadline:
                logs = "\n".join(f"--- {name}.log\n{self.log_tail(name)}" for name in self.processes)
                raise TopologyError(f"waiting for {what}: {', '.join(exited) or 'timed out'}\n{logs}")
            time.sleep(0.5)

    # -- stop ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """SIGTERM each process's session, SIGKILL what is left; then the sandbox, then the databases."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process.pid, signal.SIGKILL)
        self.processes.clear()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        self.postgres.drop_created()


def with_postgres_storage(settings: str) -> str:
    """The settings with their commented `storage:` block uncommented, exactly as a person would."""
    uncommented = re.sub(
        r"^# ?(storage:|  .*)$",
        lambda line: line.group(0)[2:] if line.group(0).startswith("# ") else line.group(0)[1:],
        settings,
        flags=re.M,
    )
    if "\nstorage:" not in uncommented:
        raise TopologyError(f"{DAGSTER_YAML} has no commented storage block to uncomment")
    return uncommented


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass

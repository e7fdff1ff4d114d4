"""WarmRunLauncher: each run starts in a process forked from one that has already imported Dagster and the
heavy libraries, instead of a new interpreter that imports them again.

Dagster's default launcher asks the code server to spawn a fresh Python for every run, and waits until it
has imported Dagster before it launches the next. A run of ours spends a second or two of its few seconds
there, on CPU: with one run per company per hour and per burst of orders, twenty companies are twenty such
imports in a row. Forked from a warm process (multiprocessing's forkserver, as Dagster's multiprocess executor
offers for steps), a run starts in a fraction of that, and the daemon launches the next one at once.

The run itself is what `dagster api execute_run` runs (what Dagster's Docker and Kubernetes launchers start),
in a session of its own, so a daemon restart leaves it running. It runs in the daemon's environment: give the
daemon the code location's environment variables (`dagster dev` and one machine's deployment do). Our own
package is imported fresh by every run, never preloaded, so a reloaded code location runs its new code. A
run of a code location in another Python falls back to the code server, as the default launcher does.
The daemon's run monitoring asks whether a run's process lives (its pid and start time, kept as run tags),
and fails a run whose process died, as the code server does for the default launcher.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClassData

# Imported once in the warm process: what every run needs and costs the most to import. Not qb_pipeline.
PRELOAD_MODULES = ["dagster", "dagster_postgres", "pandas", "sqlalchemy", "psycopg2", "quickbooks", "intuitlib"]
PID_TAG = "qb_pipeline/run_pid"
PROCESS_STARTED_TAG = "qb_pipeline/run_process_started"
RECYCLE_SECONDS = 3600  # a run's pooled connection to Dagster's storage is opened again after an hour


class WarmRunLauncher(dg.DefaultRunLauncher):
    """Forks each run from a warm process; a run it cannot start so goes to the code server (the default)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload_modules: Sequence[str] | None = None):
        super().__init__(inst_data=inst_data)
        self._preload = list(PRELOAD_MODULES if preload_modules is None else preload_modules)
        self._context: Any = None

    @classmethod
    def config_type(cls):
        return {"preload_modules": dg.Field([str], is_required=False, description="Modules the warm process imports")}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, preload_modules=config_value.get("preload_modules"))

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None or os.path.abspath(origin.executable_path) != os.path.abspath(sys.executable):
            super().launch_run(context)  # another Python: only its code server can start it
            return
        arguments = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        receiver, sender = self._forkserver().Pipe(duplex=False)
        starter = self._forkserver().Process(
            target=run_in_own_session, args=(dg.serialize_value(arguments), sender), name=f"run {run.run_id}"
        )
        starter.start()
        sender.close()
        try:
            pid = receiver.recv() if receiver.poll(60) else None
        except EOFError:
            pid = None
        finally:
            receiver.close()
        multiprocessing.active_children()  # forgets the starters that have ended
        if pid is None:
            raise dg.DagsterInvariantViolationError(f"the process for run {run.run_id} did not start")
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(pid), PROCESS_STARTED_TAG: _started(pid) or ""})

    def _forkserver(self):
        if self._context is None:
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(self._preload)
        return self._context

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if PID_TAG not in run.tags:
            return super().terminate(run_id)
        process = _process_of(run)
        if process is None:
            return False
        self._instance.report_run_canceling(run)
        process.terminate()  # the run worker turns SIGTERM into a cancellation, as under the code server
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if PID_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "started by the code server; not watched here")
        if _process_of(run) is not None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        if run.is_finished:
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process (pid {run.tags[PID_TAG]}) has ended")


def run_in_own_session(serialized_arguments: str, sender) -> None:
    """In the forked process: its own session (a signal to the daemon's group does not reach the run), its
    pid to the launcher, then the run, as `dagster api execute_run` runs it."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._utils.interrupts import capture_interrupts

    os.setsid()
    sender.send(os.getpid())
    sender.close()
    arguments = dg.deserialize_value(serialized_arguments, ExecuteRunArgs)
    with capture_interrupts(), dg.DagsterInstance.from_ref(arguments.instance_ref) as instance:
        # dagster-postgres opens a new connection for every event it stores (NullPool, so an idle instance
        # holds none): a quarter of a run's time, and a PostgreSQL backend started each time. A run is one
        # process writing a hundred events in seconds: it keeps one connection (the webserver's pooling).
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=RECYCLE_SECONDS, max_overflow=4)
        _execute_run_command_body(arguments.run_id, instance, lambda _event: None, set_exit_code_on_failure=False)


def _started(pid: int) -> str | None:
    try:
        return repr(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _process_of(run: dg.DagsterRun) -> psutil.Process | None:
    """The run's process while it lives: the pid it was given, started when it was (not a reused pid)."""
    try:
        process = psutil.Process(int(run.tags[PID_TAG]))
        alive = process.status() != psutil.STATUS_ZOMBIE
        same = repr(process.create_time()) == run.tags.get(PROCESS_STARTED_TAG)
    except (psutil.Error, ValueError):
        return None
    return process if alive and same else None

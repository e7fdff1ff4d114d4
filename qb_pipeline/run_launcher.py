"""WarmRunLauncher: each run starts in a process forked from one that has already imported Dagster and the
heavy libraries, instead of a new interpreter that imports them again.

Dagster's default launcher asks the code server to spawn a fresh Python for every run, and waits until it
has imported Dagster before it launches the next. A run of ours spends a second or two of its few seconds
there, on CPU: with one run per company per hour and per burst of orders, twenty companies are twenty such
imports in a row. Forked from a warm process (multiprocessing's forkserver, as Dagster's multiprocess executor
offers for steps), a run starts in a fraction of that, and the daemon launches the next one at once.

The run itself is what `dagster api execute_run` runs (what Dagster's Docker and Kubernetes launchers start),
in a session of its own, so a daemon restart leaves it running. It runs in the daemon's environment: give the
daemon the code location's environment variables (`dagster dev` and one machine's deployment do). The warm
process imports our code location too (a fifth of a run's time otherwise); once a file of it changes (an edit
in `dagster dev`, then Reload), runs start from the code server instead, with the new code, until the daemon
restarts. So does a run of a code location in another Python, and one the warm process could not start.
The daemon's run monitoring asks whether a run's process lives (its pid and start time, kept as run tags),
and fails a run whose process died, as the code server does for the default launcher.
"""

from __future__ import annotations

import gc
import importlib.util
import multiprocessing
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClassData

# Imported once in the warm process: what every run needs and costs the most to import, and our definitions.
PRELOAD_MODULES = [
    "dagster",
    "dagster_postgres",
    "pandas",
    "sqlalchemy",
    "psycopg2",
    "quickbooks",
    "intuitlib",
    "qb_pipeline.definitions",
    "qb_pipeline.run_warmup",  # then what each run would do first (lazy imports, the ORM's mappers)
]
PID_TAG = "qb_pipeline/run_pid"
PROCESS_STARTED_TAG = "qb_pipeline/run_process_started"
CODE_CHANGED = (
    "The code location's files changed since the warm process imported them: this run starts from the code server, "
    "with the new code (restart the daemon to have runs start warm again)."
)
NOT_STARTED = "The warm process did not start this run: it starts from the code server."
START_SECONDS = 60  # the warm process's answer with the run's pid, after which the code server starts the run
RECYCLE_SECONDS = 3600  # a run's pooled connection to Dagster's storage is opened again after an hour


class WarmRunLauncher(dg.DefaultRunLauncher):
    """Forks each run from a warm process; a run it cannot start so goes to the code server (the default)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload_modules: Sequence[str] | None = None):
        super().__init__(inst_data=inst_data)
        self._preload = list(PRELOAD_MODULES if preload_modules is None else preload_modules)

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
        warm = _warm_process(self._preload)
        if warm.code_changed():
            self._instance.report_engine_event(CODE_CHANGED, run, cls=self.__class__)
            super().launch_run(context)
            return
        arguments = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        pid = warm.start(dg.serialize_value(arguments), run.run_id)
        if pid is None:
            self._instance.report_engine_event(NOT_STARTED, run, cls=self.__class__)
            super().launch_run(context)
            return
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(pid), PROCESS_STARTED_TAG: _started(pid) or ""})

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
        try:
            process.terminate()  # the run worker turns SIGTERM into a cancellation, as under the code server
        except psutil.Error:
            return False  # it ended meanwhile
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if PID_TAG not in run.tags:
            # Started by the code server (a fallback): not ours to watch. Anything but RUNNING would have run
            # monitoring fail it, and run retries start it again beside the one still running.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "started by the code server; not watched here")
        if _process_of(run) is not None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        if run.is_finished:
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process (pid {run.tags[PID_TAG]}) has ended")


class WarmProcess:
    """multiprocessing's forkserver (one per process, started at the first run) and the files of our code it
    imported, with their modification times then."""

    def __init__(self, preload: list[str]) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(preload)
        self.folders = _project_folders(preload)
        self.imported = _snapshot(self.folders)

    def code_changed(self) -> bool:
        return _snapshot(self.folders) != self.imported

    def start(self, serialized_arguments: str, run_id: str) -> int | None:
        """The pid of the process the run starts in, or None when it did not start."""
        receiver, sender = self.context.Pipe(duplex=False)
        starter = self.context.Process(
            target=run_in_own_session, args=(serialized_arguments, sender), name=f"run {run_id}"
        )
        try:
            starter.start()
            sender.close()
            pid = receiver.recv() if receiver.poll(START_SECONDS) else None
        except (EOFError, OSError):
            pid = None
        finally:
            receiver.close()
        if pid is None and starter.is_alive():
            starter.kill()  # never a late start beside the code server's
            starter.join(5)
        # multiprocessing joins its live children when this process exits: a daemon stopping would wait for
        # every run. The run is not the daemon's to wait for (the forkserver reaps it), so forget it here.
        multiprocessing.process._children.discard(starter)
        return pid


_WARM: list[WarmProcess] = []  # the forkserver is one per process, whichever launcher starts it


def _warm_process(preload: list[str]) -> WarmProcess:
    if not _WARM:
        _WARM.append(WarmProcess(preload))
    return _WARM[0]


def _project_folders(modules: list[str]) -> list[Path]:
    """The folders of the preloaded packages that are not installed libraries: our code location's."""
    folders: list[Path] = []
    for top in sorted({name.split(".")[0] for name in modules}):
        spec = importlib.util.find_spec(top)
        folders += [Path(f) for f in (spec.submodule_search_locations or [])] if spec else []
    return [folder for folder in folders if "site-packages" not in folder.parts]


def _snapshot(folders: list[Path]) -> dict[str, int]:
    """Each Python file under `folders` and when it was last modified (a new or deleted file shows too)."""
    times: dict[str, int] = {}
    for folder in folders:
        for file in folder.rglob("*.py"):
            try:
                times[str(file)] = file.stat().st_mtime_ns
            except OSError:
                continue  # deleted meanwhile: missing from the snapshot, so a change
    return times


def run_in_own_session(serialized_arguments: str, sender) -> None:
    """In the forked process: its own session (a signal to the daemon's group does not reach the run), its
    pid to the launcher, then the run, as `dagster api execute_run` runs it."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._utils.interrupts import capture_interrupts

    # The warm process's quarter of a million objects are the run's too. Left to the garbage collector, its
    # first full collection walks them all (0.2 CPU-s, more under load, as touching them copies their pages):
    # a fifth of a push run's CPU. Frozen, it never looks at them again (they are the warm process's live
    # objects, collected there before: run_warmup.py).
    gc.freeze()
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


def _same_start(process: psutil.Process, recorded: str | None) -> bool:
    """Whether `process` started when the run's did: not a reused pid. Within 2 s, as psutil derives the time
    from the boot time, which moves when the clock is stepped."""
    try:
        return recorded is not None and abs(process.create_time() - float(recorded)) < 2
    except ValueError:
        return False


def _process_of(run: dg.DagsterRun) -> psutil.Process | None:
    """The run's process while it lives: the pid it was given, started when it was (not a reused pid)."""
    try:
        process = psutil.Process(int(run.tags[PID_TAG]))
        alive = process.status() != psutil.STATUS_ZOMBIE
        same = _same_start(process, run.tags.get(PROCESS_STARTED_TAG))
    except (psutil.Error, ValueError):
        return None
    return process if alive and same else None

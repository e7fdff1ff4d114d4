"""The record of a `make dev` stack: which processes are its own, so `qb-pipeline status` can tell at once
whether it runs, and Ctrl-C can stop every one of them.

A JSON-lines file in the data folder, written by the supervisor (`qb-pipeline dev`) only: a first line
naming the stack (its supervisor, Dagster home and UI), then a line per process it started or saw appear
under it (Dagster's webserver, daemon, code server, run processes), each with the process's start time, so
that a pid the system has since given to another process is not taken for ours; then "stopping" when
Ctrl-C came and "stopped" once every process was gone. Readers take the file as it is: a stack killed
with SIGKILL never writes "stopped", and its processes' absence says it instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil

RECORD_FILE = ".qb-pipeline-dev.processes"
SUPERVISOR = "make dev"
# seconds: psutil derives a start time from the boot time, which moves when the clock is stepped
START_TIME_TOLERANCE = 2


@dataclass(frozen=True)
class StackProcess:
    name: str
    pid: int
    started: float  # the process's start time (psutil's create_time), seconds since the epoch

    @classmethod
    def of(cls, process: psutil.Process, name: str | None = None) -> StackProcess | None:
        try:
            return cls(name or describe(process), process.pid, process.create_time())
        except psutil.Error:
            return None  # gone already

    def alive(self) -> bool:
        """Still running, and still this process: same pid and start time, and not a zombie."""
        try:
            process = psutil.Process(self.pid)
            return (
                abs(process.create_time() - self.started) < START_TIME_TOLERANCE
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False


def describe(process: psutil.Process) -> str:
    """A short name a person recognises: the module or program a stack process runs."""
    try:
        argv = process.cmdline()
    except psutil.Error:
        return "process"
    if "-m" in argv[:-1]:
        module = argv[argv.index("-m") + 1]
        rest = argv[argv.index("-m") + 2 :]
        return " ".join([module, *rest[:2]]) if module in ("dagster", "qb_pipeline.cli") else module
    return Path(argv[0]).name if argv else "process"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StackRecorder:
    """The supervisor's side: writes the record as the stack starts, grows and stops."""

    def __init__(self, data_dir: Path, *, dagster_home: Path, ui: str) -> None:
        self.path = data_dir / RECORD_FILE
        # A new record for a new stack; opened once and kept (appending), so that a data folder deleted under
        # the stack is not made again by a late line.
        self.path.unlink(missing_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self.path.chmod(0o600)
        self.known: dict[int, StackProcess] = {}
        me = psutil.Process()
        self._write(
            {
                "stack": SUPERVISOR,
                "pid": me.pid,
                "started": me.create_time(),
                "at": _now(),
                "dagster_home": str(dagster_home),
                "ui": ui,
            }
        )

    def _write(self, line: dict) -> None:
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def add(self, process: psutil.Process, name: str | None = None) -> None:
        if process.pid in self.known:
            return
        entry = StackProcess.of(process, name)
        if entry is not None:
            self.known[entry.pid] = entry
            self._write({"process": entry.name, "pid": entry.pid, "started": entry.started})

    def watch(self) -> list[psutil.Process]:
        """Record every process now running under the supervisor; returns them."""
        try:
            descendants = psutil.Process().children(recursive=True)
        except psutil.Error:
            return []
        for process in descendants:
            self.add(process)
        return descendants

    def mark(self, event: str) -> None:
        """ "stopping" or "stopped", with the time."""
        self._write({"event": event, "at": _now()})

    def close(self) -> None:
        self._file.close()


@dataclass
class StackRecord:
    """The reader's side: what the record says, checked against the processes running now."""

    supervisor: StackProcess
    started_at: str
    dagster_home: Path | None
    ui: str | None
    processes: list[StackProcess] = field(default_factory=list)
    stopping_at: str | None = None
    stopped_at: str | None = None

    def alive(self) -> list[StackProcess]:
        return [process for process in [self.supervisor, *self.processes] if process.alive()]

    def state(self) -> tuple[str, str]:
        """(running | stopping | stopped | left behind, what to tell a person)."""
        alive = self.alive()
        if self.stopped_at or not alive:
            how = f"stopped at {self.stopped_at}" if self.stopped_at else "its processes are gone"
            return "stopped", f"not running ({how})"
        if self.stopping_at:
            return "stopping", f"stopping (Ctrl-C at {self.stopping_at}; {len(alive)} processes left)"
        if self.supervisor in alive:
            return "running", f"running (pid {self.supervisor.pid}, UI {self.ui}, since {self.started_at})"
        left = ", ".join(f"{process.name} (pid {process.pid})" for process in alive[:5])
        return "left behind", (
            f"not running: make dev (pid {self.supervisor.pid}) was killed and left {len(alive)} of its processes: "
            f"{left}; stop them with kill"
        )


def read_record(data_dir: Path) -> StackRecord | None:
    """The record of the last make dev on this data folder, or None when there never was one (or it is
    unreadable: then nothing is claimed about a stack)."""
    try:
        lines = (data_dir / RECORD_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line being written as we read
    if not entries or entries[0].get("stack") != SUPERVISOR:
        return None
    head = entries[0]
    record = StackRecord(
        supervisor=StackProcess(SUPERVISOR, int(head["pid"]), float(head["started"])),
        started_at=head.get("at", "?"),
        dagster_home=Path(head["dagster_home"]) if head.get("dagster_home") else None,
        ui=head.get("ui"),
    )
    for entry in entries[1:]:
        if "process" in entry:
            record.processes.append(StackProcess(entry["process"], int(entry["pid"]), float(entry["started"])))
        elif entry.get("event") == "stopping":
            record.stopping_at = entry.get("at")
        elif entry.get("event") == "stopped":
            record.stopped_at = entry.get("at")
    return record


def alive_processes(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` still running (a zombie, dead but not yet reaped by its parent, is gone)."""
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
        except psutil.Error:
            pass
    return left


def become_subreaper() -> None:
    """Linux: processes orphaned under this one (a code server whose `dagster dev` exited) are re-parented to
    it rather than to init, so they stay in its process tree and Ctrl-C finds them. Elsewhere: nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass

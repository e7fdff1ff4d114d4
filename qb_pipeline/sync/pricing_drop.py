"""The pricing drop folder (QB_PRICING_DROP_DIR): which files are ready, and whose fault a failed import is.

Files are taken in name order. A file whose size or modification time changed in the last
`settle_seconds` may still be being written: it waits for the next run, and so do the files after it
(a later file may change what it sets). Renaming a finished file into the folder is the sure way;
the settling wait covers the writers that cannot (a copy over a share, a save from a spreadsheet).

A file is rejected (moved to rejected/) only for faults of its own: its encoding, layout or rows, or a
value the database refuses. Anything else says nothing about the file — the database locked or busy
(SQLite's "database is locked"), unreachable or restarting, a PostgreSQL serialization failure,
deadlock or lost connection, any other database error, a file system error — so the file stays where
it is for the next run, and the run fails to say so. Any other exception while its rows are read
counts as the file's (as before): rejecting it, with the exception in its reason, keeps the folder
moving.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from qb_pipeline.core import defaults
from qb_pipeline.sync.pricing_csv import PricingFileError, read_pricing_file
from qb_pipeline.sync.pricing_stage import import_pricing_file
from qb_pipeline.sync.wording import plural

LOG = logging.getLogger(__name__)  # where a caller without a logger of its own (a script, a test) is told


@dataclass
class DropFolderRun:
    """What one pass over the folder did."""

    applied: int = 0  # rows that changed something
    rejected_rows: int = 0
    files: int = 0  # files taken (applied, rejected or kept)
    rejected_files: int = 0
    waiting: int = 0  # files left in the folder for the next run
    kept: str = ""  # why a file was kept for the next run: a fault not of its own, the run must fail


def take_dropped_files(
    folder: Path,
    engine: sa.Engine,
    *,
    settle_seconds: float = defaults.SETTLE_SECONDS,
    log: logging.Logger | logging.LoggerAdapter = LOG,
    realm_id: str | None = None,
) -> DropFolderRun:
    """Import the folder's files in name order, each all or nothing (from now on, never backdated), each
    staged and swapped in on its own (`sync.pricing_stage`), and move each to processed/ or rejected/.
    `realm_id`: the company whose pricing they are (None: the one connected)."""
    run = DropFolderRun()
    dropped = pricing_files(folder) if folder.is_dir() else []
    for position, path in enumerate(dropped):
        if not settled(path, settle_seconds):
            run.waiting = len(dropped) - position
            log.info(
                f"{path.name}: still being written (changed in the last {settle_seconds:g} s); "
                f"{_these(run.waiting)} left for the next run"
            )
            break
        run.files += 1
        try:
            changed, reasons = _import_file(engine, path, realm_id)
        except Exception as error:
            if not is_the_files_fault(error):
                run.waiting = len(dropped) - position
                run.kept = (
                    f"{path.name}: not imported ({short_reason(error)}); {_these(run.waiting)} kept for the next run"
                )
                log.error(run.kept)
                break
            changed, reasons = 0, [f"{path.name}: could not be imported ({short_reason(error)})"]
        if reasons:
            # A bad file is set aside with its reasons and never holds up the files after it.
            run.rejected_rows, run.rejected_files = run.rejected_rows + len(reasons), run.rejected_files + 1
            archived = _archive(path, "rejected")
            archived.with_name(archived.name + ".reason.txt").write_text("\n".join(reasons) + "\n")
            for reason in reasons:
                log.warning(reason)
            log.warning(f"{path.name}: rejected, nothing applied (reasons in {archived.name}.reason.txt)")
        else:
            run.applied += changed
            _archive(path, "processed")
            log.info(f"{path.name}: applied ({changed} changes)")
    return run


def pricing_files(folder: Path) -> list[Path]:
    """The CSV files in `folder` (`.csv` in any case), in name order; hidden files and the lock files
    spreadsheets keep beside an open file (`~$…`, `.~lock…`) are not pricing files."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() == ".csv" and not path.name.startswith((".", "~")) and path.is_file()
    )


def settled(path: Path, settle_seconds: float) -> bool:
    """Whether the file's size and modification time have stayed the same for `settle_seconds` (waiting
    at most that long to see); False for a file gone meanwhile."""
    try:
        before = path.stat()
        quiet_for = time.time() - before.st_mtime
        if quiet_for >= settle_seconds:
            return True
        time.sleep(settle_seconds - max(quiet_for, 0.0))  # a modification time in the future waits the full time
        after = path.stat()
    except FileNotFoundError:
        return False
    return (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def is_the_files_fault(error: Exception) -> bool:
    """False for errors that say nothing about the file (see the module's docstring): keep it, try again."""
    if isinstance(error, sa.exc.DataError):  # a value of the file the database refuses
        return True
    return not isinstance(error, (sa.exc.SQLAlchemyError, OSError))


def short_reason(error: Exception) -> str:
    """The error in one line: the driver's own message, without SQLAlchemy's statement and parameters."""
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line}"


def _import_file(engine: sa.Engine, path: Path, realm_id: str | None) -> tuple[int, list[str]]:
    """Import one file strictly: (rows that changed something, the reasons it was refused). Errors that are
    not the file's own are raised."""
    try:
        text = read_pricing_file(path)
    except PricingFileError as error:
        return 0, [str(error)]
    report = import_pricing_file(engine, text, strict=True, realm_id=realm_id)
    return report.applied, [f"{path.name} line {line}: {reason}" for line, reason in report.errors]


def _these(files: int) -> str:
    """The file and those after it, with their verb: "it is", "it and 2 files after it are"."""
    return "it is" if files == 1 else f"it and {plural(files - 1, 'file')} after it are"


def _archive(path: Path, folder: str) -> Path:
    target = path.parent / folder
    target.mkdir(exist_ok=True)
    moved = target / f"{int(time.time())}-{path.name}"
    shutil.move(str(path), moved)
    return moved

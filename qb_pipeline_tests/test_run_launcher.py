"""deploy/dagster.yaml's WarmRunLauncher, on a real instance: a run is forked from the warm process (the heavy
libraries and our definitions already imported) into a session of its own and succeeds; a job module it did
not import is imported by each run; once our code changes, runs start from the code server; run monitoring
sees a run whose process died; a terminated run is canceled; on PostgreSQL a run keeps its connection."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.launcher import WorkerStatus
from sqlalchemy.engine import make_url

import qb_pipeline.jobs
from qb_pipeline.devstack import DAGSTER_YAML
from qb_pipeline.run_launcher import PID_TAG, WarmRunLauncher
from qb_pipeline_tests.helpers import PROJECT_DIR, wait_for

JOB = """
import gc, os, sys, time
import dagster as dg

VERSION = {version!r}
RECORD = {record!r}
SLEEP = {sleep!r}
LINES = {lines!r}
LOADED_WITH = sorted(m for m in ("pandas", "sqlalchemy", "quickbooks", "qb_pipeline.definitions", "qb_pipeline.run_warmup") if m in sys.modules)

@dg.op
def record(context):
    with open(RECORD, "a") as out:
        out.write(f"{{os.getpid()}} {{os.getsid(0)}} {{VERSION}} {{','.join(LOADED_WITH)}} {{gc.get_freeze_count()}}\\n")
    for n in range(LINES):
        context.log.info(f"line {{n}}")  # an event each
    time.sleep(SLEEP)

@dg.job(executor_def=dg.in_process_executor)
def warm_job():
    record()
"""


@pytest.fixture
def instance(tmp_path):
    """An instance on deploy/dagster.yaml as shipped (its run launcher), storage in a temporary home."""
    settings = yaml.safe_load((PROJECT_DIR / DAGSTER_YAML).read_text())
    assert settings["run_launcher"] == {"module": "qb_pipeline.run_launcher", "class": "WarmRunLauncher"}
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text(yaml.safe_dump(settings))
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        yield instance


def write_job(folder: Path, version: str, sleep: float = 0, lines: int = 0):
    """The code location: a job that notes its process, its session, its version and what was imported
    before it (the forked process keeps the warm process's environment: all it learns is in the file)."""
    path = folder / "warm_job_location.py"
    path.write_text(
        textwrap.dedent(JOB.format(version=version, record=str(folder / "record.txt"), sleep=sleep, lines=lines))
    )
    spec = importlib.util.spec_from_file_location("warm_job_location", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.warm_job, ReconstructableJob.for_file(str(path), "warm_job")


def launch(instance: dg.DagsterInstance, folder: Path, version: str, sleep: float = 0, lines: int = 0) -> str:
    job, recon = write_job(folder, version, sleep, lines)
    run = instance.create_run_for_job(job_def=job, job_code_origin=recon.get_python_origin())
    instance.launch_run(run.run_id, workspace=None)
    return run.run_id


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    wait_for(lambda: instance.get_run_by_id(run_id).is_finished, timeout=120, what="the run to end", interval=0.2)
    return instance.get_run_by_id(run_id)


def records(tmp_path: Path) -> list[list[str]]:
    return [line.split(" ") for line in (tmp_path / "record.txt").read_text().splitlines()]


def test_a_run_starts_warm_in_its_own_session_and_a_reloaded_location_runs_its_new_code(instance, tmp_path):
    first = finished(instance, launch(instance, tmp_path, "one"))
    second = finished(instance, launch(instance, tmp_path, "two"))  # the code location's file changed

    assert first.is_success and second.is_success
    (pid, session, version, loaded, frozen), (_, _, version_after, _, _) = records(tmp_path)
    assert pid == first.tags[PID_TAG] != str(os.getpid())
    assert session == pid  # a session of its own: a signal to the daemon's group does not end the run
    assert loaded == "pandas,qb_pipeline.definitions,qb_pipeline.run_warmup,quickbooks,sqlalchemy"  # before the run
    assert (version, version_after) == ("one", "two")  # a module the warm process did not import: each run's own
    # what the warm process imported is frozen: the run's garbage collector never walks it
    assert int(frozen) > 100_000


def test_once_our_code_changes_runs_start_from_the_code_server_with_the_new_code(instance, tmp_path):
    assert finished(instance, launch(instance, tmp_path, "one")).is_success  # the warm process has started
    edited = Path(qb_pipeline.jobs.__file__)
    before = edited.stat()
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # as an edit would
    try:
        with pytest.raises(dg.DagsterInvariantViolationError, match="requires a workspace"):
            launch(instance, tmp_path, "two")  # the default launcher's path: a code server loads the new code
    finally:
        os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert len(records(tmp_path)) == 1  # the stale warm process ran nothing


def test_run_monitoring_sees_a_run_whose_process_died(instance, tmp_path):
    run_id = launch(instance, tmp_path, "one", sleep=120)
    wait_for(lambda: (tmp_path / "record.txt").exists(), timeout=60, what="the run's step", interval=0.2)
    run = instance.get_run_by_id(run_id)
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    # the launching process (the daemon) would not wait for it when it stops: multiprocessing joins its children
    assert int(run.tags[PID_TAG]) not in {child.pid for child in multiprocessing.active_children()}

    os.kill(int(run.tags[PID_TAG]), signal.SIGKILL)
    wait_for(
        lambda: instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.FAILED,
        timeout=30,
        what="the dead process to be seen",
        interval=0.2,
    )
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # only monitoring can end it


def test_run_monitoring_leaves_a_run_the_code_server_started_to_the_code_server(instance, tmp_path):
    job, recon = write_job(tmp_path, "one")
    run = instance.create_run_for_job(job_def=job, job_code_origin=recon.get_python_origin())  # no pid: a fallback

    health = instance.run_launcher.check_run_worker_health(run)

    assert health.status == WorkerStatus.RUNNING  # anything else and run monitoring fails it, and retries start it


def test_terminating_a_run_cancels_it(instance, tmp_path):
    run_id = launch(instance, tmp_path, "one", sleep=120)
    wait_for(lambda: (tmp_path / "record.txt").exists(), timeout=60, what="the run's step", interval=0.2)

    assert instance.run_launcher.terminate(run_id)

    assert finished(instance, run_id).status == dg.DagsterRunStatus.CANCELED


def test_a_run_of_another_python_goes_to_the_code_server(instance, tmp_path):
    job, recon = write_job(tmp_path, "one")
    origin = recon.get_python_origin()
    elsewhere = origin._replace(repository_origin=origin.repository_origin._replace(executable_path="/other/python"))
    run = instance.create_run_for_job(job_def=job, job_code_origin=elsewhere)

    with pytest.raises(dg.DagsterInvariantViolationError, match="requires a workspace"):
        instance.launch_run(run.run_id, workspace=None)  # the default launcher's path: via a code server
    assert not (tmp_path / "record.txt").exists()
    assert sys.executable != "/other/python"


def test_a_run_on_postgresql_stores_its_events_over_a_few_connections(tmp_path, postgres_database_factory):
    """dagster-postgres alone opens a PostgreSQL connection (a server process) for every event it stores;
    the warm run keeps one. Counted by PostgreSQL (pg_stat_database.sessions), events by plain SQL."""
    if postgres_database_factory is None:
        pytest.skip("PostgreSQL variant: set QB_TEST_POSTGRES_URL to run it (CI does)")
    url = make_url(postgres_database_factory())
    settings = yaml.safe_load((PROJECT_DIR / DAGSTER_YAML).read_text())
    storage = {"hostname": url.host, "username": url.username, "password": url.password or "", "db_name": url.database}
    settings["storage"] = {"postgres": {"postgres_db": {**storage, "port": url.port, "scheme": "postgresql+psycopg2"}}}
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text(yaml.safe_dump(settings))
    probe = sa.create_engine(url.set(drivername="postgresql+psycopg2"), poolclass=sa.pool.StaticPool)
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance, probe.connect() as sql:

        def sessions() -> int:
            sql.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return sql.exec_driver_sql(
                f"SELECT sessions FROM pg_stat_database WHERE datname = '{url.database}'"
            ).scalar()

        before = sessions()
        run_id = launch(instance, tmp_path, "one", lines=100)  # and a few connections of this process's own
        wait_for(
            lambda: sql.exec_driver_sql(f"SELECT status FROM runs WHERE run_id = '{run_id}'").scalar() == "SUCCESS",
            timeout=120,
            what="the run to succeed",
            interval=0.2,
        )
        events = sql.exec_driver_sql(f"SELECT count(*) FROM event_logs WHERE run_id = '{run_id}'").scalar()
        wait_for(lambda: sessions() > before, timeout=10, what="PostgreSQL to count the sessions")
        time.sleep(1.5)  # sessions are counted as they end: the run process's own, at its exit
        opened = sessions() - before

    assert events >= 100
    assert opened < events / 2, f"{opened} connections for {events} events"

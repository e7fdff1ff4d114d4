"""deploy/dagster.yaml's WarmRunLauncher, on a real instance: a run is forked from the warm process (the heavy
libraries already imported) into a session of its own and succeeds; a reloaded code location runs its new
code; run monitoring sees a run whose process died; a terminated run is canceled."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.launcher import WorkerStatus

from qb_pipeline.devstack import DAGSTER_YAML
from qb_pipeline.run_launcher import PID_TAG, WarmRunLauncher
from qb_pipeline_tests.helpers import PROJECT_DIR, wait_for

JOB = """
import os, sys, time
import dagster as dg

VERSION = {version!r}
RECORD = {record!r}
SLEEP = {sleep!r}
LOADED_WITH = sorted(m for m in ("pandas", "sqlalchemy", "quickbooks", "qb_pipeline.definitions") if m in sys.modules)

@dg.op
def record():
    with open(RECORD, "a") as out:
        out.write(f"{{os.getpid()}} {{os.getsid(0)}} {{VERSION}} {{','.join(LOADED_WITH)}}\\n")
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


def write_job(folder: Path, version: str, sleep: float = 0):
    """The code location: a job that notes its process, its session, its version and what was imported
    before it (the forked process keeps the warm process's environment: all it learns is in the file)."""
    path = folder / "warm_job_location.py"
    path.write_text(textwrap.dedent(JOB.format(version=version, record=str(folder / "record.txt"), sleep=sleep)))
    spec = importlib.util.spec_from_file_location("warm_job_location", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.warm_job, ReconstructableJob.for_file(str(path), "warm_job")


def launch(instance: dg.DagsterInstance, folder: Path, version: str, sleep: float = 0) -> str:
    job, recon = write_job(folder, version, sleep)
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
    (pid, session, version, loaded), (_, _, version_after, _) = records(tmp_path)
    assert pid == first.tags[PID_TAG] != str(os.getpid())
    assert session == pid  # a session of its own: a signal to the daemon's group does not end the run
    assert loaded == "pandas,quickbooks,sqlalchemy"  # imported before the run loaded its job: warm
    assert (version, version_after) == ("one", "two")  # the job's module is imported by each run, not kept


def test_run_monitoring_sees_a_run_whose_process_died(instance, tmp_path):
    run_id = launch(instance, tmp_path, "one", sleep=120)
    wait_for(lambda: (tmp_path / "record.txt").exists(), timeout=60, what="the run's step", interval=0.2)
    run = instance.get_run_by_id(run_id)
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING

    os.kill(int(run.tags[PID_TAG]), signal.SIGKILL)
    wait_for(
        lambda: instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.FAILED,
        timeout=30,
        what="the dead process to be seen",
        interval=0.2,
    )
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # only monitoring can end it


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

"""A second `make dev` beside a running one is told what clashes and which setting changes it: settings in the
environment, as `make dev` takes them (it passes no flags). The first stack is stood in for by what it holds:
the lock on its folder (flock, as any process holds it) and its ports."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys

import pytest

from qb_pipeline_tests.helpers import PROJECT_DIR, free_port

LOCK_FILE = ".qb-pipeline-dev.lock"


def make_dev(**env: str) -> subprocess.CompletedProcess:
    """What `make dev` runs, with `env` as a person would set it before `make dev`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QB_") and k != "DAGSTER_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "qb_pipeline.cli", "dev"],
        env={**environment, "QB_WEBHOOK_PORT": str(free_port()), "QB_SANDBOX_PORT": str(free_port()), **env},
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def held(tmp_path):
    """Lock a folder as a running stack does; released when the test ends."""
    handles = []

    def hold(folder):
        folder.mkdir(parents=True)
        handle = open(folder / LOCK_FILE, "w")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("pid 4242, UI http://127.0.0.1:3000")
        handle.flush()
        handles.append(handle)
        return folder

    yield hold
    for handle in handles:
        handle.close()


@pytest.mark.parametrize(
    ("shared", "variable", "what"), [("home", "DAGSTER_HOME", "Dagster home"), ("data", "QB_DATA_DIR", "data folder")]
)
def test_a_second_stack_is_told_which_folder_clashes_and_the_setting_that_changes_it(
    tmp_path, held, shared, variable, what
):
    first = {"data": tmp_path / "first-data", "home": tmp_path / "first-home"}
    held(first[shared])
    second = {"data": tmp_path / "second-data", "home": tmp_path / "second-home", shared: first[shared]}
    result = make_dev(
        QB_DATA_DIR=str(second["data"]),
        DAGSTER_HOME=str(second["home"]),
        QB_DAGSTER_URL=f"http://127.0.0.1:{free_port()}",
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"make dev is already running with the {what} {first[shared]} (pid 4242, UI http://127.0.0.1:3000)" in line
    assert f"give this one another {variable}" in line
    assert "--port" not in line  # make dev passes no flags


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("QB_DAGSTER_URL", "the Dagster UI's {port} (choose another with QB_DAGSTER_URL=http://127.0.0.1:{next})"),
        ("QB_SANDBOX_PORT", "the sandbox's {port} (choose another with QB_SANDBOX_PORT="),
    ],
)
def test_a_port_in_use_names_the_setting_make_dev_takes(tmp_path, setting, said):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        value = f"http://127.0.0.1:{port}" if setting == "QB_DAGSTER_URL" else str(port)
        env = {"QB_DAGSTER_URL": f"http://127.0.0.1:{free_port()}", setting: value}
        result = make_dev(QB_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "home"), **env)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: port already in use: ") and said.format(port=port, next=port + 1) in line
    assert "--port" not in line

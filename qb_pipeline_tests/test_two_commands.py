"""`make dev`'s launcher serves the Dagster UI and stops everything on Ctrl-C; the code location loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from qb_pipeline.db.migrate import head_revision
from qb_pipeline.dev_process import running_dev_stack
from qb_pipeline.devstack import DAGSTER_YAML
from qb_pipeline_tests.helpers import PROJECT_DIR, http_ok, port_open, wait_for

CLI = [sys.executable, "-m", "qb_pipeline.cli"]


def test_definitions_validate():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_db_upgrade_and_current_from_the_cli(tmp_path):
    env = {**os.environ, "QB_DATA_DIR": str(tmp_path)}
    env.pop("QB_DATABASE_URL", None)
    upgrade = subprocess.run([*CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "qb_pipeline.sqlite").exists()
    current = subprocess.run([*CLI, "db", "current"], env=env, capture_output=True, text=True, timeout=120)
    assert current.returncode == 0 and f"revision {head_revision()}" in current.stdout


def test_db_upgrade_error_is_one_line_without_password(tmp_path):
    env = {**os.environ, "QB_DATABASE_URL": "postgresql://app:hunter2secret@127.0.0.1:1/nowhere"}
    result = subprocess.run([*CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "hunter2secret" not in result.stdout + result.stderr
    assert result.stderr.startswith("Error: could not upgrade postgresql+psycopg2://app:***@127.0.0.1:1/nowhere")


@pytest.mark.slow
def test_dev_serves_dagster_ui_and_ctrl_c_stops_everything(tmp_path):
    with running_dev_stack(tmp_path) as stack:
        with urllib.request.urlopen(f"{stack.ui}/server_info", timeout=5) as response:
            assert "dagster_webserver_version" in json.load(response)
        assert (tmp_path / "dagster" / "dagster.yaml").read_text() == (PROJECT_DIR / DAGSTER_YAML).read_text()
        assert (tmp_path / "data" / "qb_pipeline.sqlite").exists()
        connection = json.loads((tmp_path / "data" / "sandbox" / "connection.json").read_text())
        assert http_ok(connection["discovery_url"])  # the sandbox runs beside Dagster
        stack.interrupt()  # what Ctrl-C in a terminal does
        assert stack.process.wait(timeout=60) == 0
        wait_for(lambda: not port_open(stack.ui_port), timeout=30, what="the UI port to close")
        sandbox_port = int(connection["sandbox_url"].rsplit(":", 1)[1])
        wait_for(lambda: not port_open(sandbox_port), timeout=30, what="the sandbox to stop")

"""Ctrl-C on `make dev` (issue #31 items 4 and 5): when the command returns, no process of the stack is left
(webserver, daemon, code server, sandbox, a run in progress), and `qb-pipeline status` says at once that
nothing runs, instead of a daemon alive and sensors RUNNING until heartbeats age."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest

from qb_pipeline.dev_process import running_dev_stack
from qb_pipeline.stack_record import alive_processes, read_record
from qb_pipeline_tests.helpers import PROJECT_DIR, wait_for

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "qb_pipeline.cli"]


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    # No DAGSTER_HOME given: status finds the stack's Dagster home as a person's second terminal would.
    return subprocess.run([*CLI, *args], env=stack.env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)


def a_run_in_progress(stack) -> bool:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(stack.home / "dagster")) as instance:
        return bool(instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=1))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_dev_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def test_status_sees_the_running_stack(stack):
    running = json.loads(cli(stack, "status", "--json").stdout)
    assert running["make_dev"]["state"] == "running"
    assert running["make_dev"]["message"].startswith(f"running (pid {stack.process.pid}, UI {stack.ui}")
    assert running["automation"]["new_orders_sensor"] == "RUNNING"


def test_ctrl_c_leaves_no_process_and_status_says_not_running_at_once(stack):
    # A run in progress when Ctrl-C comes: QuickBooks answers slowly.
    stack.sandbox.control("POST", "settings", {"latency_ms": 3000})
    launched = cli(stack, "sync", "customers", "--url", stack.ui)
    assert launched.returncode == 0, launched.stderr
    wait_for(lambda: a_run_in_progress(stack), timeout=60, what="the sync run to start")
    # Seen from outside (psutil), not through the record: every process under `qb-pipeline dev` now.
    tree = psutil.Process(stack.process.pid).children(recursive=True)
    assert any("code-server" in " ".join(p.cmdline()) for p in tree), [p.cmdline()[:4] for p in tree]

    stack.interrupt()  # Ctrl-C
    assert stack.process.wait(timeout=60) == 0
    left = alive_processes(tree)
    assert not left, f"still running after make dev returned: {[(p.pid, p.cmdline()[:4]) for p in left]}"
    record = read_record(stack.home / "data")
    assert {p.pid for p in tree} <= {p.pid for p in record.processes}  # status knew every one of them
    assert not record.alive()

    shown = cli(stack, "status", "--json")  # at once
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["make_dev"]["state"] == "stopped"
    assert status["dagster_daemon"].startswith("not running")
    assert set(status["automation"].values()) == {"configured; stopped (make dev is not running)"}
    assert not status["quickbooks"]["connected"]
    text = cli(stack, "status").stdout
    assert "make dev       not running (stopped at" in text
    assert "new_orders_sensor: configured; stopped (make dev is not running)" in text
    assert "RUNNING" not in text and "alive" not in text

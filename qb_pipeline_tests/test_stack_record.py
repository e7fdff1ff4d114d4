"""The record of a make dev stack (issue #31 item 4), without starting one: a recorded pid counts as the
stack's only while it is the same process, and `qb-pipeline status` reads the record at once."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil

from qb_pipeline.stack_record import RECORD_FILE, StackProcess, StackRecorder, read_record


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_recorded_pid_is_the_stacks_only_while_it_is_the_same_process():
    process = sleeper()
    try:
        recorded = StackProcess.of(psutil.Process(process.pid))
        assert recorded.alive()
        # The pid given to another process since (what a pid reused after a reboot or a long time looks like):
        reused = StackProcess(recorded.name, recorded.pid, recorded.started - 3600)
        assert not reused.alive()
    finally:
        process.kill()
        process.wait()
    assert not recorded.alive()


def test_the_record_says_running_stopping_stopped_or_left_behind(tmp_path):
    child = sleeper()
    try:
        recorder = StackRecorder(tmp_path, dagster_home=tmp_path / "dagster", ui="http://127.0.0.1:3000")
        recorder.add(psutil.Process(child.pid), "dagster dev")
        state, said = read_record(tmp_path).state()  # this process plays the supervisor
        assert state == "running" and said.startswith("running (pid ") and "UI http://127.0.0.1:3000" in said
        assert read_record(tmp_path).dagster_home == tmp_path / "dagster"
        recorder.mark("stopping")
        assert read_record(tmp_path).state()[0] == "stopping"
        # A supervisor killed with SIGKILL writes nothing more: its processes left running are named.
        lines = (tmp_path / RECORD_FILE).read_text().splitlines()
        head = json.loads(lines[0])
        (tmp_path / RECORD_FILE).write_text(
            "\n".join([json.dumps({**head, "started": head["started"] - 3600}), lines[1]]) + "\n"
        )
        state, said = read_record(tmp_path).state()
        assert state == "left behind" and f"dagster dev (pid {child.pid})" in said
    finally:
        child.kill()
        child.wait()
    assert read_record(tmp_path).state() == ("stopped", "not running (its processes are gone)")
    recorder.mark("stopped")
    assert read_record(tmp_path).state()[1].startswith("not running (stopped at ")
    recorder.close()
    assert read_record(tmp_path / "nowhere") is None


def test_status_says_at_once_when_make_dev_stopped(run):
    from pathlib import Path

    data = Path(run.env["QB_DATA_DIR"])
    home = data.parent / "dagster"  # the stack's Dagster home; DAGSTER_HOME is not set: status finds it
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    recorder = StackRecorder(data, dagster_home=home, ui="http://127.0.0.1:3000")
    running = json.loads(run("status", "--json").stdout)
    assert running["make_dev"]["state"] == "running"
    assert running["automation"]["hourly_sync"] == "RUNNING"
    recorder.mark("stopping")
    recorder.mark("stopped")
    recorder.close()
    shown = json.loads(run("status", "--json").stdout)
    assert shown["make_dev"]["state"] == "stopped"
    assert shown["dagster_daemon"] == "not running (make dev is not running)"
    assert set(shown["automation"].values()) == {"configured; stopped (make dev is not running)"}
    assert not shown["quickbooks"]["connected"]
    assert shown["quickbooks"]["state"].startswith("not connected: the bundled sandbox stopped with make dev")
    # a sensor switched off is said as it is
    off = json.loads(run("status", "--json", env={"QB_AUTO_SYNC_ORDERS": "false"}).stdout)["automation"]
    assert off["new_orders_sensor"].startswith("STOPPED")

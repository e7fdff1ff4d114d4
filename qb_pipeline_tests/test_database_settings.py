"""The project database as a person meets it from the command line: a URL it cannot use, and a data folder
that is gone. Every command run as a real process, as a person types it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qb_pipeline.db.session import SUPPORTED_DATABASES
from qb_pipeline_tests.helpers import PROJECT_DIR

CLI = [sys.executable, "-m", "qb_pipeline.cli"]


def qb_pipeline(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("QB_DATABASE_URL", "DAGSTER_HOME")}
    return subprocess.run(
        [*CLI, *args], env={**environment, **env}, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://x", "'mysql://x'"),  # no MySQL driver here, and no MySQL support anyway
        ("notaurl", "'notaurl'"),
        ("mysql://app:hunter2secret@db/shop", "'mysql://app:***@db/shop'"),
        ("postgresql//app:hunter2secret@db/shop", "<hidden>"),  # unparseable, and may hold a password
    ],
)
@pytest.mark.parametrize("command", [("status",), ("dev", "--port", "1", "--no-sandbox")])
def test_a_database_url_it_cannot_use_is_one_line_naming_the_setting_and_the_databases(tmp_path, command, url, shown):
    """`make dev` (qb-pipeline dev) and `status` stop before touching anything, in one line."""
    result = qb_pipeline(*command, QB_DATABASE_URL=url, QB_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: QB_DATABASE_URL={shown} is not allowed: use a URL of {SUPPORTED_DATABASES}"
    ], result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started or created


@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("db", "current"),
        ("orders", "list"),
        ("log",),
        ("auth", "status"),
        ("sync", "customers", "--in-process"),
    ],
)
def test_a_missing_database_is_said_and_nothing_makes_one_but_db_upgrade(tmp_path, command):
    """A deleted data folder: each command says the database is not there and how to make it, and neither
    a database, nor a token key, nor the folder appears."""
    data = tmp_path / "data"
    result = qb_pipeline(*command, QB_DATA_DIR=str(data))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: there is no database at {data / 'qb_pipeline.sqlite'}: make it with `qb-pipeline db upgrade` "
        "(make dev does)"
    ), result.stderr
    assert not data.exists()


def test_db_upgrade_makes_the_database_and_the_token_key(tmp_path):
    data = tmp_path / "data"
    assert qb_pipeline("db", "upgrade", QB_DATA_DIR=str(data)).returncode == 0
    assert sorted(p.name for p in data.iterdir()) == ["qb_pipeline.sqlite", "token.key"]
    key = (data / "token.key").read_text()
    assert qb_pipeline("db", "upgrade", QB_DATA_DIR=str(data)).returncode == 0
    assert (data / "token.key").read_text() == key  # kept: it encrypts the tokens already stored

"""The data folder and the project database hold orders, customers and the encrypted tokens: readable by
their owner only (0700 / 0600), under the usual umask 022, however they came to be."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from qb_pipeline.cli import main
from qb_pipeline.db.session import engine_for
from qb_pipeline.devstack import DevStack

PROJECT_DIR = Path(__file__).resolve().parents[2]  # where workspace.yaml and deploy/dagster.yaml are
SQLITE_SIDE_FILES = ("-wal", "-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    """The umask most accounts have: what SQLite and mkdir create is world-readable unless we say otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_a_new_data_folder_and_its_database_are_private(tmp_path, umask_022):
    data = tmp_path / "data"
    env = {"QB_DATA_DIR": str(data), "QB_DATABASE_URL": None, "QB_ENVIRONMENT": "sandbox-local", "DAGSTER_HOME": None}
    upgraded = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    database = data / "qb_pipeline.sqlite"
    try:
        # A write, as a person makes one; its engine stays in this process's pool, so SQLite's -wal and -shm
        # files (made by SQLite itself, not by us) are still there to look at.
        added = CliRunner().invoke(main, ["orders", "add", "--customer", "Acme", "--line", "Rock:1"], env=env)
        assert added.exit_code == 0, added.output
        side_files = [Path(f"{database}{suffix}") for suffix in SQLITE_SIDE_FILES]
        assert all(file.exists() for file in side_files), "the write left no -wal/-shm to look at"
        assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in [data, database, *side_files]} == {
            "data": oct(0o700),
            "data/qb_pipeline.sqlite": oct(0o600),
            "data/qb_pipeline.sqlite-wal": oct(0o600),
            "data/qb_pipeline.sqlite-shm": oct(0o600),
        }
    finally:
        engine_for(f"sqlite:///{database}").dispose()


def test_make_dev_makes_an_older_installs_folders_and_database_private(tmp_path, umask_022, monkeypatch):
    # An install made before: world-readable folders, and a database SQLite left with its -wal and -shm.
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    data.mkdir(mode=0o755)
    home.mkdir(mode=0o755)
    database = data / "qb_pipeline.sqlite"
    older = sqlite3.connect(database)
    try:
        older.execute("PRAGMA journal_mode=WAL")
        older.execute("CREATE TABLE t (x)")
        older.commit()
        files = [database, *(Path(f"{database}{suffix}") for suffix in SQLITE_SIDE_FILES)]
        assert [oct(mode(file)) for file in files] == [oct(0o644)] * 3
        monkeypatch.setenv("QB_DATA_DIR", str(data))  # prepare() sets it for its children; put back afterwards
        monkeypatch.delenv("QB_DATABASE_URL", raising=False)
        DevStack(project_dir=PROJECT_DIR, data_dir=data, dagster_home=home).prepare()
        assert {path.name: oct(mode(path)) for path in [data, home, *files]} == {
            "data": oct(0o700),
            "dagster_home": oct(0o700),
            "qb_pipeline.sqlite": oct(0o600),
            "qb_pipeline.sqlite-wal": oct(0o600),
            "qb_pipeline.sqlite-shm": oct(0o600),
        }
    finally:
        older.close()

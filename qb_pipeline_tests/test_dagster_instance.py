"""dagster.yaml as shipped: the settings load, and its commented PostgreSQL storage block works."""

from __future__ import annotations

import re

import dagster as dg
import pytest
import yaml
from sqlalchemy.engine import make_url

from qb_pipeline.assets.price_levels import price_levels
from qb_pipeline.devstack import DAGSTER_YAML
from qb_pipeline.resources import DatabaseResource
from qb_pipeline_tests.fixtures.dagster_runs import materialize_company
from qb_pipeline_tests.helpers import PROJECT_DIR


def shipped_config() -> str:
    return (PROJECT_DIR / DAGSTER_YAML).read_text()


def test_shipped_settings_load_into_an_instance(tmp_path):
    (tmp_path / "dagster.yaml").write_text(shipped_config())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        concurrency = instance.get_concurrency_config()  # what the run queue daemon applies
        # one run at a time per company (its realm tag, and its partition for UI launches), none across companies
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert [(limit["key"], limit["limit"]) for limit in limits] == [
            ("qb_pipeline/realm", 1),
            ("dagster/partition", 1),
        ]
        assert all(limit["value"] == {"applyLimitPerUniqueValue": True} for limit in limits)
        assert concurrency.run_queue_config.max_concurrent_runs == 4
        assert concurrency.pool_config.default_pool_limit is None  # no limit shared by every company
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2


def test_the_commented_postgres_storage_block_runs_an_instance(
    tmp_path, monkeypatch, postgres_database_factory, database_url
):
    if postgres_database_factory is None:
        pytest.skip("PostgreSQL variant: set QB_TEST_POSTGRES_URL to run it (CI does)")
    url = make_url(postgres_database_factory())
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host)
    monkeypatch.setenv("DAGSTER_PG_USER", url.username)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", url.database)
    # Uncomment the block exactly as a person would.
    text = re.sub(
        r"^# ?(storage:|  .*)$",
        lambda m: m.group(0)[2:] if m.group(0).startswith("# ") else m.group(0)[1:],
        shipped_config(),
        flags=re.M,
    )
    assert "postgres_db" in yaml.safe_load(text)["storage"]["postgres"]
    (tmp_path / "dagster.yaml").write_text(text)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = materialize_company(
            [price_levels], instance=instance, resources={"database": DatabaseResource(url=database_url)}
        )
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"

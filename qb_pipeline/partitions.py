"""The companies a deployment serves, as Dagster partitions: `companies_sensor` adds a partition for each
company connected (holding a token), and the schedules and sensors request one run per company."""

from __future__ import annotations

import dagster as dg

from qb_pipeline import config
from qb_pipeline.assets.constants import companies
from qb_pipeline.automation import COMPANIES_SENSOR
from qb_pipeline.db.token_store import connected_realms, disconnected_realms
from qb_pipeline.jobs import company_tags
from qb_pipeline.resources import DatabaseResource
from qb_pipeline.settings import Settings

COMPANIES_SENSOR_SECONDS = 5  # a company connected by `auth connect` has its partition within seconds


def company_partitions(instance: dg.DagsterInstance) -> list[str]:
    """The companies that have a partition, in the order they were added."""
    return list(instance.get_dynamic_partitions(companies.name))


def served_companies(instance: dg.DagsterInstance, database: DatabaseResource) -> list[str]:
    """The companies the schedules and sensors run for: each with a partition, but for one disconnected
    (its partition and history stay; a run of it would only fail for want of a token)."""
    with database.session() as session:
        gone = disconnected_realms(session)
    return [realm for realm in company_partitions(instance) if realm not in gone]


def partition_tag(realm_id: str) -> dict[str, str]:
    """The tag Dagster gives every run of company `realm_id`'s partition (a run launched from the UI too)."""
    return {"dagster/partition": realm_id}


def company_run(realm_id: str, run_key: str, **kwargs) -> dg.RunRequest:
    """A run of company `realm_id`: its partition and its lane tag (dagster.yaml: one run per company at
    a time, companies side by side); the run key names the company, so companies never dedupe each other."""
    tags = {**(kwargs.pop("tags", None) or {}), **company_tags(realm_id)}
    return dg.RunRequest(run_key=f"{realm_id}-{run_key}", partition_key=realm_id, tags=tags, **kwargs)


def build_companies_sensor(settings: Settings) -> dg.SensorDefinition:
    """Adds a partition for each company connected, and for the bundled sandbox's company on a fresh stack
    (it is connected by its first run); never deletes one (a company's runs and history stay)."""

    @dg.sensor(
        name=COMPANIES_SENSOR,
        minimum_interval_seconds=COMPANIES_SENSOR_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Adds a partition of `companies` for each QuickBooks company connected (holding a token; the "
            "bundled sandbox's company from the start). Never deletes one: a company's history stays."
        ),
    )
    def companies_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
        with database.session() as session:
            realms = connected_realms(session)
        if settings.environment == "sandbox-local":
            realms.add(config.realm_tag(settings))
        new = sorted(realms - set(company_partitions(context.instance)))
        if not new:
            return dg.SkipReason(f"no new company ({len(realms)} connected)")
        context.log.info(f"new companies: {', '.join(new)}")
        return dg.SensorResult(dynamic_partitions_requests=[companies.build_add_request(new)])

    return companies_sensor

"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from qb_pipeline.resources import database_resource

defs = dg.Definitions(
    resources={"database": database_resource()},
)

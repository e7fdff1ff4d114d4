"""Fixtures shared by the whole suite: real databases and (from the sandbox issue on) a real sandbox."""

pytest_plugins = [
    "qb_pipeline_tests.fixtures.databases",
    "qb_pipeline_tests.fixtures.sandbox",
    "qb_pipeline_tests.fixtures.gateway",
    "qb_pipeline_tests.fixtures.dagster_resources",
]

"""Fixtures shared by the whole suite (qb_pipeline_tests/fixtures/): real databases, a real sandbox, gateways,
Dagster resources, the command line, the demo company mirrored, webhook endpoints and the whole dev stack."""

pytest_plugins = [
    "qb_pipeline_tests.fixtures.databases",
    "qb_pipeline_tests.fixtures.sandbox",
    "qb_pipeline_tests.fixtures.gateway",
    "qb_pipeline_tests.fixtures.dagster_resources",
    "qb_pipeline_tests.fixtures.cli",
    "qb_pipeline_tests.fixtures.name_lists",
    "qb_pipeline_tests.fixtures.webhooks",
    "qb_pipeline_tests.fixtures.dev_stack",
    "qb_pipeline_tests.fixtures.dagster_runs",
    "qb_pipeline_tests.fixtures.receivables",
]


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run the long variants (e.g. 50,000 query-parser fuzz cases instead of 3,000)",
    )

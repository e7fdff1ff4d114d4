"""Fixtures shared by the whole suite: real databases and (from the sandbox issue on) a real sandbox."""

pytest_plugins = [
    "qb_pipeline_tests.fixtures.databases",
    "qb_pipeline_tests.fixtures.sandbox",
    "qb_pipeline_tests.fixtures.gateway",
    "qb_pipeline_tests.fixtures.dagster_resources",
    "qb_pipeline_tests.fixtures.cli",
]


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run the long variants (e.g. 50,000 query-parser fuzz cases instead of 3,000)",
    )

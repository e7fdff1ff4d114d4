"""What every run would otherwise do first, done once in WarmRunLauncher's warm process (the last module it
preloads): import the modules Dagster imports lazily while it starts a run, and configure the ORM's mappers
(SQLAlchemy does it at a process's first query). Each run forked from there starts with them done."""

import gc
import importlib

import sqlalchemy.orm

import qb_pipeline.db.models  # noqa: F401  (the mappers to configure)

# Seen imported by every run and not before it (sys.modules in a run, less the warm process's): storage
# and executor modules, and the libraries Dagster's definitions-state storage opens paths with.
LAZILY_IMPORTED = [
    "dagster._core.definitions.repository_definition.repository_data_builder",
    "dagster._core.execution.plan.active",
    "dagster._core.executor.in_process",
    "dagster._core.instance.factory",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.root",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.workspace.autodiscovery",
    "dagster._utils.test.definitions",
    "fsspec.implementations.local",
    "psycopg2.extras",
    "upath",
    "watchdog.observers.polling",
]

for name in LAZILY_IMPORTED:
    try:
        importlib.import_module(name)
    except ImportError:  # moved in another Dagster version: that run imports what it needs itself
        pass
sqlalchemy.orm.configure_mappers()
# What the imports left as garbage, collected once here: each run freezes what it inherits (gc.freeze), so
# whatever is left then is never collected.
gc.collect()

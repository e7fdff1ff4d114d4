"""A Dagster run in its own process, as the daemon launches one: `python -m drills.run_worker JOB`.

Configured only by the environment the product reads (QB_DATABASE_URL, QB_SANDBOX_CONNECTION_FILE,
QB_TOKEN_KEY, DAGSTER_HOME …), so a drill can SIGKILL it mid-batch like a crashed run worker. Prints
one JSON line: the run's success and, on failure, the error a person would see.
"""

from __future__ import annotations

import json
import sys

import dagster as dg


def main(job_name: str) -> int:
    from qb_pipeline import config
    from qb_pipeline.definitions import defs
    from qb_pipeline.jobs import execute_for_company

    job = defs.resolve_job_def(job_name)
    with dg.DagsterInstance.get() as instance:
        outcome = execute_for_company(job, instance, config.realm_tag(config.settings()), raise_on_error=False)
    errors = [
        _innermost(event.event_specific_data.error)
        for event in outcome.all_events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    ]
    print(json.dumps({"success": outcome.success, "run_id": outcome.run_id, "errors": errors}), flush=True)
    return 0 if outcome.success else 1


def _innermost(error) -> str:
    """The error the asset raised, not Dagster's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

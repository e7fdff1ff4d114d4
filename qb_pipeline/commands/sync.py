"""`qb-pipeline sync TYPE`: sync one type now, on the running Dagster (so the run shows in the UI and runs
where the deployment runs its runs), or here with --in-process."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import click
import requests

from qb_pipeline import config
from qb_pipeline.core import defaults
from qb_pipeline.sync.entities import INVOICES, SYNCED

# `qb-pipeline sync TYPE` → the job it launches (jobs.py defines them)
SYNC_JOBS = {
    # every mirrored type but invoices, which come with the orders' push
    **{entity.asset: entity.sync_job for entity in SYNCED.values() if entity is not INVOICES},
    "pricing": "sync_pricing_job",
    "orders": "push_invoices_job",
    "all": "hourly_sync_job",
}
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


@click.command()
@click.argument("kind", type=click.Choice(list(SYNC_JOBS)))
@click.option("--wait", is_flag=True, help="Follow the run; exit non-zero if it fails.")
@click.option("--in-process", is_flag=True, help="Run it here instead of on the running Dagster.")
@click.option("--url", default=None, help=f"The Dagster UI (default QB_DAGSTER_URL, {defaults.DAGSTER_URL}).")
@click.option(
    "--company", default=None, metavar="REALM", help="The company's realm id (default: QB_REALM_ID, or the sandbox's)."
)
def sync(kind: str, wait: bool, in_process: bool, url: str | None, company: str | None) -> None:
    """Sync customers, items, payments, credit memos, pricing, orders (push the due ones) or all of it, now."""
    job_name = SYNC_JOBS[kind]
    realm = company or config.realm_tag(config.settings())
    if in_process:
        _run_here(job_name, realm)
        return
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    url = (url or config.settings().dagster_url).rstrip("/")
    try:
        requests.get(f"{url}/server_info", timeout=10).raise_for_status()
    except requests.RequestException:
        raise click.ClickException(
            f"no Dagster answers at {url}: start it with `make dev` (or add --in-process to run the sync here)"
        ) from None
    address = urlparse(url)
    client = DagsterGraphQLClient(
        address.hostname or "127.0.0.1", port_number=address.port, use_https=address.scheme == "https"
    )
    try:
        run_id = client.submit_job_execution(
            job_name, repository_location_name="qb_pipeline", repository_name="__repository__", tags=_company_run(realm)
        )
    except DagsterGraphQLClientError as error:
        raise click.ClickException(f"Dagster refused the run: {str(error).splitlines()[0]}") from None
    click.echo(f"{job_name} launched: run {run_id}\n{url}/runs/{run_id}")
    if not wait:
        return
    status = ""
    while status not in FINISHED:
        time.sleep(1)
        status = client.get_run_status(run_id).value
    click.echo(f"run {run_id}: {status}")
    if status != "SUCCESS":
        raise click.ClickException(f"the {kind} sync did not succeed ({status}): see {url}/runs/{run_id}")


def _company_run(realm: str) -> dict[str, str]:
    """The tags of a run of company `realm`: its partition (companies_sensor has added it) and lane."""
    from qb_pipeline.jobs import company_tags

    return {"dagster/partition": realm, **company_tags(realm)}


def _run_here(job_name: str, realm: str) -> None:
    from qb_pipeline.commands.common import dagster_instance, database
    from qb_pipeline.definitions import defs
    from qb_pipeline.jobs import execute_for_company

    database()  # not there, or not up to date: one line before any run starts
    job = defs.resolve_job_def(job_name)
    with dagster_instance() as instance:
        if instance is None:
            import dagster as dg

            with dg.DagsterInstance.ephemeral() as ephemeral:
                result = execute_for_company(job, ephemeral, realm, raise_on_error=False)
        else:
            result = execute_for_company(job, instance, realm, raise_on_error=False)
    click.echo(f"{job_name}: {'SUCCESS' if result.success else 'FAILURE'} (run {result.run_id})")
    if not result.success:
        raise click.ClickException(f"{job_name} did not succeed: see its run log")

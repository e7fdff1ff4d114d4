"""Dagster's production topology, run for real (qb_pipeline_tests/topology/): the instance and the project
database on PostgreSQL, a code server, the webserver and the daemon as separate processes, and the sandbox.
Three companies in the one sandbox process, each connected, synced and sent orders; the daemon and the push
runs are SIGKILLed while QuickBooks holds the answer to a batch it applied, with QuickBooks set to stop no
duplicate itself; afterwards every order has exactly one invoice in its own company, counted from each
company's sandbox dump and the project database, and Dagster's run records show companies side by side,
never two runs of one company at once. (`make topology` runs the same, bigger.)"""

from __future__ import annotations

import pytest

from qb_pipeline_tests.topology.companies import COMPANIES, sandbox_companies
from qb_pipeline_tests.topology.processes import POSTGRES_URL_VARIABLE, Topology, postgres_server_url
from qb_pipeline_tests.topology.scenario import CODE_SETTINGS, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]
ORDERS = 30  # per company, plus one added after the daemon's restart


def test_killing_the_daemon_and_a_run_mid_push_loses_and_duplicates_no_order(tmp_path):
    server = postgres_server_url()
    if server is None:
        pytest.skip(f"needs PostgreSQL: set {POSTGRES_URL_VARIABLE} (CI does)")
    with Topology(tmp_path, server, code_settings=CODE_SETTINGS, companies=COMPANIES) as topology:
        companies = sandbox_companies(topology.sandbox)
        assert len(companies) == COMPANIES
        result = run_scenario(topology, companies, orders=ORDERS)
        secrets = topology.secrets()
    logs = topology.logs()  # stopped: everything they printed, to the end
    print(result)
    assert any(killed.startswith("run ") for killed in result.killed), "no push run was killed mid-push"
    assert result.runs.get("FAILURE", 0) >= 1  # the killed run, failed by the code server, in PostgreSQL
    for company in result.counts:
        assert (company.orders, company.duplicates, company.lost, company.misplaced) == (ORDERS + 1, 0, 0, 0), company
        assert company.invoices == company.synced == ORDERS + 1, company
    assert {span.realm_id for span in result.spans} == {company.realm_id for company in companies}
    assert not result.overlaps_within, f"runs of one company at once: {result.overlaps_within}"
    assert result.overlaps_across, "no two companies' runs ever ran side by side"
    assert {"code-server.log", "webserver.log", "daemon.log"} <= set(logs)
    leaked = [(what, log) for what, secret in secrets.items() for log, text in logs.items() if secret in text]
    assert not leaked, f"secrets in the processes' output: {leaked}"

"""Every call names minor version 75 (docs/qbo-api.md §10), counted by the sandbox from what it received,
not by the code under test: a full pull, a CDC pull, an invoice push in batches and a preferences read."""

from __future__ import annotations

from datetime import timedelta

from qb_pipeline.sync.invoices import push_orders
from qb_pipeline.sync.pull import pull_name_list
from qb_pipeline_tests.fixtures.orders import add_orders, build_shop


def test_a_full_pull_a_cdc_pull_a_batch_push_and_a_preferences_read_all_send_minorversion_75(
    sandbox, make_gateway, engine
):
    gateway = make_gateway()
    build_shop(sandbox, gateway, engine)  # full pulls of customers and items: counts and pages
    cdc_pull = pull_name_list(gateway, engine, "Customer", overlap=timedelta(seconds=1))
    add_orders(engine, 40)
    pushed = push_orders(gateway, engine, "run-1")  # batches of invoices, the preferences read first
    gateway.preferences.numbering(fresh=True)
    gateway.count("CompanyInfo")  # the connection check's probe (checks.py)

    counters = sandbox.counters()
    assert (cdc_pull.mode, pushed.pushed) == ("cdc", 40)
    assert {"cdc 200", "batch 200", "query 200", "read preferences 200"} <= set(counters["calls"])
    assert counters["minorversions"] == {"75": counters["total"]}, "a call without minorversion=75"


def test_a_raw_call_through_the_clients_session_sends_minorversion_75(sandbox, make_gateway):
    """python-quickbooks' download_pdf calls `process_request` with no params; so would a raw call of ours."""
    qb = make_gateway().connection.client()
    answer = qb.process_request("GET", f"{qb.api_url}/company/{qb.company_id}/preferences", headers={})
    assert answer.status_code == 200
    assert sandbox.counters()["minorversions"] == {"75": 1}

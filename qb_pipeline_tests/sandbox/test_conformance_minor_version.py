"""Minor versions as Intuit serves them since 2025-08-01 (docs/qbo-api.md §10): a `minorversion` below 75
is ignored and a call without one is served as 75 — neither is refused — and the sandbox counts what each
call sent, so a client that leaves it out can be seen."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer

READS = {
    "query": ("GET", "query", {"query": "select * from Customer"}),
    "read": ("GET", "customer/{id}", {}),
    "preferences": ("GET", "preferences", {}),
    "companyinfo": ("GET", "companyinfo/{realm}", {}),
    "cdc": ("GET", "cdc", {"entities": "Customer"}),
}


def _without_times(answer: dict) -> dict:
    """An answer without the top-level `time` (the instant it was answered), which differs per call."""
    return {key: value for key, value in answer.items() if key != "time"}


@pytest.mark.parametrize("sent", [None, "1", "65", "74", "75"])
@pytest.mark.parametrize("call", sorted(READS))
def test_a_minor_version_below_75_or_none_is_served_as_75_and_counted_as_sent(sandbox, call, sent):
    qb = sandbox.qb_client()
    customer = make_customer(qb, "Ada Lovelace")
    method, path, params = READS[call]
    path = path.format(id=customer.Id, realm=sandbox.realm_id)
    if call == "cdc":
        params = {**params, "changedSince": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}
    as_75 = api(sandbox, qb, method, path, params={**params, "minorversion": "75"})
    sandbox.reset_counters()
    answer = api(sandbox, qb, method, path, params=params if sent is None else {**params, "minorversion": sent})
    assert (answer.status_code, as_75.status_code) == (200, 200)
    assert _without_times(answer.json()) == _without_times(as_75.json())
    assert sandbox.counters()["minorversions"] == {sent or "none": 1}


@pytest.mark.parametrize("sent", [None, "40"])
def test_writes_and_batches_below_75_or_without_it_are_applied_not_refused(sandbox, sent):
    qb = sandbox.qb_client()
    version = {} if sent is None else {"minorversion": sent}
    created = api(sandbox, qb, "POST", "customer", params=version, json={"DisplayName": "Grace Hopper"})
    batch = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Alan Turing"}}]}
    batched = api(sandbox, qb, "POST", "batch", params=version, json=batch)
    assert (created.status_code, batched.status_code) == (200, 200)
    assert "Fault" not in batched.json()["BatchItemResponse"][0]
    names = {record["DisplayName"] for record in sandbox.dump("Customer")["records"]}
    assert names == {"Grace Hopper", "Alan Turing"}
    assert sandbox.counters()["minorversions"] == {sent or "none": 2}

"""Many QuickBooks companies in one sandbox process (`serve --companies N`), each a company of its own: its
records (with Ids that repeat across companies), rate limits, tokens, faults and webhooks. The real
python-quickbooks and intuit-oauth clients talk to each over real HTTP."""

from __future__ import annotations

import json
import stat
import urllib.error
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from intuitlib.enums import Scopes
from quickbooks.exceptions import AuthorizationException
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer

from qb_pipeline.sandbox.server import DEFAULT_REALM
from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer
from qb_pipeline_tests.fixtures.sandbox import COMPANIES, SandboxHandle, qb_client_for
from qb_pipeline_tests.fixtures.webhooks import NotificationEndpoint
from qb_pipeline_tests.helpers import wait_for


def test_each_company_has_its_realm_and_the_first_keeps_the_usual_one(companies_sandbox):
    realms = [company.realm_id for company in companies_sandbox]
    assert len(realms) == COMPANIES and len(set(realms)) == COMPANIES
    assert realms[0] == DEFAULT_REALM  # a caller that knows one company sees no change
    names = set()
    for company in companies_sandbox:
        info = CompanyInfo.get(company.realm_id, qb=company.qb_client())
        assert info.Id == company.realm_id
        names.add(info.CompanyName)
    assert len(names) == COMPANIES


def test_the_same_id_in_two_companies_holds_different_records(companies_sandbox):
    first, second = companies_sandbox[:2]
    qb_first, qb_second = first.qb_client(), second.qb_client()
    alpha, beta = make_customer(qb_first, "Alpha Landscaping"), make_customer(qb_second, "Beta Bakery")
    assert alpha.Id == beta.Id  # each company numbers its own records
    assert Customer.get(alpha.Id, qb=qb_first).DisplayName == "Alpha Landscaping"
    assert Customer.get(beta.Id, qb=qb_second).DisplayName == "Beta Bakery"
    assert [c.DisplayName for c in Customer.all(qb=qb_first)] == ["Alpha Landscaping"]
    assert [c["DisplayName"] for c in first.dump("Customer")["records"]] == ["Alpha Landscaping"]
    assert [c["DisplayName"] for c in second.dump("Customer")["records"]] == ["Beta Bakery"]
    make_customer(qb_second, "Alpha Landscaping")  # a name taken in one company is free in another
    second.reset()  # resetting one company leaves the others' records
    assert Customer.all(qb=qb_second) == [] and len(Customer.all(qb=qb_first)) == 1


def test_a_429_storm_on_one_company_leaves_the_others_answering(companies_sandbox):
    stormy, calm = companies_sandbox[:2]
    for company in (stormy, calm):
        company.settings(limits="real")  # Intuit's limits, which are per company: 10 requests a second
    qb_stormy, qb_calm = stormy.qb_client(), calm.qb_client()
    statuses = [api(stormy, qb_stormy, "GET", f"companyinfo/{stormy.realm_id}").status_code for _ in range(15)]
    assert statuses.count(429) >= 5  # its second's ten are spent
    assert [api(calm, qb_calm, "GET", f"companyinfo/{calm.realm_id}").status_code for _ in range(8)] == [200] * 8
    stormy.settings(limits="off")
    stormy.inject("429", count=50)  # an injected storm is the company's own too
    assert api(stormy, qb_stormy, "GET", "preferences").status_code == 429
    assert api(calm, qb_calm, "GET", "preferences").status_code == 200
    assert stormy.counters()["calls"].get("read companyinfo 429", 0) >= 5
    assert "read companyinfo 429" not in calm.counters()["calls"]


def test_a_token_of_one_company_is_refused_by_another(companies_sandbox):
    first, second = companies_sandbox[:2]
    token_of_first = first.fresh_refresh_token()
    foreign = qb_client_for({**first.connection, "realm_id": second.realm_id}, token_of_first)
    with pytest.raises(AuthorizationException):
        CompanyInfo.get(second.realm_id, qb=foreign)
    qb_first = first.qb_client(token_of_first)
    answer = api(second, qb_first, "GET", f"companyinfo/{second.realm_id}")
    assert answer.status_code == 401
    error = answer.json()["Fault"]
    assert error["type"] == "AuthenticationFault" and error["Error"][0]["code"] == "100"  # Intuit's SRV-110
    assert api(first, qb_first, "GET", f"companyinfo/{first.realm_id}").status_code == 200
    unknown = f"{first.connection['api_base_url']}/company/123/companyinfo/123"
    assert requests.get(unknown, headers={"Authorization": "Bearer x"}, timeout=10).status_code == 401
    first.control("POST", "tokens/revoke")  # revoking one company's connection leaves the other's
    qb_second = second.qb_client()
    assert CompanyInfo.get(second.realm_id, qb=qb_second).Id == second.realm_id
    assert api(first, qb_first, "GET", f"companyinfo/{first.realm_id}").status_code == 401


def test_the_consent_screen_connects_the_company_picked(companies_sandbox):
    first, second = companies_sandbox[:2]
    auth = first.auth_client()
    url = auth.get_authorization_url([Scopes.ACCOUNTING])
    picked = _consent(f"{url}&realm_id={second.realm_id}")
    assert picked["realmId"] == second.realm_id
    auth.get_bearer_token(picked["code"], realm_id=picked["realmId"])
    connected = qb_client_for(second.connection, auth.refresh_token)
    assert CompanyInfo.get(second.realm_id, qb=connected).Id == second.realm_id
    assert _consent(first.auth_client().get_authorization_url([Scopes.ACCOUNTING]))["realmId"] == first.realm_id
    elsewhere = first.auth_client()  # a company of the user's that this sandbox does not serve
    picked = _consent(f"{elsewhere.get_authorization_url([Scopes.ACCOUNTING])}&realm_id=42")
    assert picked["realmId"] == "42"
    elsewhere.get_bearer_token(picked["code"], realm_id="42")
    for company in (first, second):
        assert api(company, _with_token(elsewhere.access_token), "GET", "preferences").status_code == 401


def _with_token(access_token: str):
    """What `api` reads of a python-quickbooks client: its session's access token."""
    return SimpleNamespace(session=SimpleNamespace(access_token=access_token))


def _consent(url: str) -> dict[str, str]:
    redirect = requests.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlparse(redirect.headers["location"]).query).items()}


def test_each_companys_webhooks_name_its_own_realm(companies_sandbox):
    endpoints = [NotificationEndpoint() for _ in companies_sandbox[:2]]
    try:
        for company, endpoint in zip(companies_sandbox, endpoints, strict=False):
            company.settings(webhook_url=endpoint.url, webhook_batch_ms=100)
            make_customer(company.qb_client(), f"Notified in {company.realm_id}")
        for company, endpoint in zip(companies_sandbox, endpoints, strict=False):
            wait_for(lambda endpoint=endpoint: endpoint.events(), timeout=10, what="a notification")
            assert {e["intuitaccountid"] for e in endpoint.events()} == {company.realm_id}
            assert company.control("GET", "webhooks")["deliveries"] == 1
        companies_sandbox[1].settings(webhook_format="legacy")  # one company's settings, not the other's
        assert companies_sandbox[0].control("GET", "settings")["webhook_format"] == "cloudevents"
        make_customer(companies_sandbox[1].qb_client(), "Legacy notified")
        wait_for(lambda: len(endpoints[1].deliveries) == 2, timeout=10, what="the legacy notification")
        legacy = json.loads(endpoints[1].deliveries[1][1])
        assert legacy["eventNotifications"][0]["realmId"] == companies_sandbox[1].realm_id
    finally:
        for company in companies_sandbox[:2]:
            company.settings(webhook_url="")
        for endpoint in endpoints:
            endpoint.server.shutdown()


def test_a_company_added_while_serving_is_served_and_kept(tmp_path):
    data = tmp_path / "sandbox"
    sandbox = SandboxHandle(data, companies=2)
    try:
        before = sandbox.realm_ids()
        added = sandbox.add_company("demo")
        assert added not in before and sandbox.realm_ids() == [*before, added]
        company = sandbox.company(added)
        qb = company.qb_client()
        assert CompanyInfo.get(added, qb=qb).Id == added
        assert len(Customer.all(qb=qb)) > 10  # seeded with the demo set
        assert Customer.all(qb=sandbox.company(before[1]).qb_client()) == []  # the others are untouched
        written = data / "connections" / f"{added}.json"
        assert json.loads(written.read_text())["realm_id"] == added and json.loads(written.read_text())["refresh_token"]
        assert stat.S_IMODE(written.stat().st_mode) == 0o600 and stat.S_IMODE(written.parent.stat().st_mode) == 0o700
        _only_with_the_control_token(sandbox)
    finally:
        sandbox.stop()
    restarted = SandboxHandle(data, companies=2)
    try:
        assert restarted.realm_ids() == [*before, added]  # the state folder keeps its companies
        assert len(Customer.all(qb=restarted.company(added).qb_client())) > 10
    finally:
        restarted.stop()
    again = SandboxHandle(tmp_path / "other", extra=["--companies", "3"])  # the CLI flag itself
    try:
        assert again.realm_ids() == [*before, added]  # deterministic realm ids
    finally:
        again.stop()


def _only_with_the_control_token(sandbox: SandboxHandle) -> None:
    url = f"{sandbox.url}/_sandbox/companies"
    assert requests.post(url, json={}, timeout=10).status_code == 401
    from_a_page = {"Authorization": f"Bearer {sandbox.connection['control_token']}", "Origin": "http://evil.test"}
    assert requests.post(url, json={}, headers=from_a_page, timeout=10).status_code == 403
    assert len(sandbox.realm_ids()) == 3  # neither added a company
    with pytest.raises(urllib.error.HTTPError) as unknown:
        sandbox.company("42")
    assert unknown.value.code == 404

"""Queries, CDC, batch, requestid, limits and OAuth through the real clients over real HTTP."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException, ValidationException
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item

from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer, make_invoice, make_item


def test_paging_reaches_the_last_of_2500_customers_and_the_count_agrees(sandbox):
    sandbox.seed(customers=2500)
    qb = sandbox.qb_client()
    assert len(Customer.all(qb=qb)) == 100  # the library's silent default page
    seen, position = [], 1
    while True:
        page = Customer.query(f"SELECT * FROM Customer STARTPOSITION {position} MAXRESULTS 1000", qb=qb)
        seen += [c.Id for c in page]
        if len(page) < 1000:
            break
        position += 1000
    assert len(seen) == 2500 and len(set(seen)) == 2500 and [len(seen[:1000]), len(seen[2000:])] == [1000, 500]
    assert Customer.count(qb=qb) == 2500


def test_an_inactive_customer_is_hidden_unless_asked_for(sandbox):
    sandbox.seed(customers=3)
    qb = sandbox.qb_client()
    last = Customer.get(Customer.all(qb=qb)[-1].Id, qb=qb)
    last.Active = False
    last.save(qb=qb)
    assert Customer.count(qb=qb) == 2  # name lists hide inactive rows by default
    assert Customer.count("Active IN (true, false)", qb=qb) == 3
    assert Customer.filter(Active=False, qb=qb)[0].Id == last.Id


def test_a_query_can_be_sent_as_a_get(sandbox):
    qb = sandbox.qb_client()
    make_customer(qb, "O'Brien")
    found = api(
        sandbox, qb, "GET", "query", params={"query": "select * from customer where DisplayName = 'O\\'Brien'"}
    ).json()
    assert found["QueryResponse"]["Customer"][0]["DisplayName"] == "O'Brien"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT * FROM Customer WHERE DisplayName = 'a' OR Active = true", 4000),  # no OR in QuickBooks' language
        ("SELECT * FROM Customer WHERE Shoe = 'a'", 4001),  # no such property
    ],
)
def test_a_query_quickbooks_cannot_read_is_refused_with_its_code(sandbox, query, code):
    with pytest.raises(ValidationException) as caught:
        sandbox.qb_client().query(query)
    assert caught.value.error_code == code


def test_cdc_reports_changes_and_deleted_invoice_after_active_ones(sandbox):
    qb = sandbox.qb_client()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    customer, item = make_customer(qb, "CDC Buyer"), make_item(qb, "CDC Thing")
    kept = make_invoice(qb, customer, item, doc_number="CDC-1")
    gone = make_invoice(qb, customer, item, doc_number="CDC-2")
    Invoice.get(gone.Id, qb=qb).delete(qb=qb)
    response = qb.change_data_capture("Customer,Invoice", since.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    groups = {
        next(k for k in g if k not in ("startPosition", "maxResults", "totalCount")): g
        for g in response["CDCResponse"][0]["QueryResponse"]
    }
    invoices = groups["Invoice"]["Invoice"]
    assert [i["Id"] for i in invoices] == [kept.Id, gone.Id]
    assert invoices[-1]["status"] == "Deleted" and "DocNumber" not in invoices[-1]
    assert groups["Customer"]["Customer"][0]["DisplayName"] == "CDC Buyer"


def test_a_cdc_time_without_an_offset_is_the_companys_local_time(sandbox):
    # The library's helper drops the offset, so QBO reads its time as the company's local time (UTC-8
    # here): a caller must pass company-local time. Our gateway always sends an explicit offset.
    qb = sandbox.qb_client()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    make_customer(qb, "CDC Buyer")
    company_local = since.astimezone(timezone(timedelta(hours=-8)))
    assert change_data_capture([Customer], company_local, qb=qb).Customer[0].DisplayName == "CDC Buyer"


def test_cdc_from_the_future_answers_an_empty_page(sandbox):
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert sandbox.qb_client().change_data_capture("Customer", future)["CDCResponse"] == [{"QueryResponse": [{}]}]


def test_cdc_further_back_than_30_days_is_refused(sandbox):
    with pytest.raises(QuickbooksException):
        sandbox.qb_client().change_data_capture("Customer", "2020-01-01T00:00:00+00:00")


def test_batch_with_mixed_success_and_fault(sandbox):
    qb = sandbox.qb_client()
    make_customer(qb, "Taken")
    fresh, clash = Customer(), Customer()
    fresh.DisplayName, clash.DisplayName = "Fresh", "Taken"
    result = batch_create([fresh, clash], qb=qb)
    assert [c.DisplayName for c in result.successes] == ["Fresh"]
    assert result.faults[0].Error[0].code == "6240"


def test_a_batch_of_more_than_30_is_refused_whole(sandbox):
    with pytest.raises(QuickbooksException):
        sandbox.qb_client().batch_operation(
            json.dumps({"BatchItemRequest": [{"bId": str(i), "Query": "select * from Item"} for i in range(31)]})
        )


def test_requestid_replays_the_original_response_without_redoing_it(sandbox):
    qb = sandbox.qb_client()
    customer = Customer()
    customer.DisplayName = "Once Only"
    first = customer.save(qb=qb, request_id="req-123")
    again = Customer()
    again.DisplayName = "Once Only"
    second = again.save(qb=qb, request_id="req-123")
    assert second.Id == first.Id
    assert Customer.count("DisplayName = 'Once Only'", qb=qb) == 1


@pytest.mark.parametrize("retry_after", [True, False])
def test_limits_answer_429_with_a_qbo_throttle_fault(sandbox, retry_after):
    sandbox.settings(limits="scaled:0.3", send_retry_after=retry_after)  # 3 requests per second
    qb = sandbox.qb_client()
    answers = [api(sandbox, qb, "GET", f"companyinfo/{sandbox.realm_id}") for _ in range(6)]
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled and throttled[0].json()["Fault"]["Error"][0]["code"] == "003001"
    assert ("Retry-After" in throttled[0].headers) == retry_after
    with pytest.raises(ValidationException) as caught:  # how python-quickbooks surfaces it
        Item.all(qb=qb)
    assert caught.value.error_code == 3001


def test_real_limits_allow_ten_requests_of_a_company_at_once(sandbox):
    qb = sandbox.qb_client()
    sandbox.settings(limits="real", latency_ms=3000)  # each answer held until all 12 have been sent

    def call_later(n: int) -> int:
        time.sleep(n * 0.15)  # about 7 a second: under the rate, so only the concurrency rule can refuse
        return api(sandbox, qb, "GET", f"companyinfo/{sandbox.realm_id}").status_code

    time.sleep(1.1)  # the earlier calls leave the one-second window
    try:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(call_later, range(12)))
    finally:
        sandbox.settings(limits="off", latency_ms=0)
    assert sorted(answers) == [200] * 10 + [429] * 2


def test_oauth_refresh_rotates_and_superseded_token_dies_after_grace(sandbox):
    sandbox.settings(rotation_grace=0)
    auth = sandbox.auth_client()
    original = sandbox.fresh_refresh_token()
    auth.refresh(refresh_token=original)
    assert auth.access_token and auth.refresh_token != original
    assert auth.x_refresh_token_expires_in == 8726400 and auth.expires_in == 3600
    assert getattr(auth, "id_token", None) is None
    with pytest.raises(AuthClientError) as caught:
        sandbox.auth_client().refresh(refresh_token=original)
    assert "invalid_grant" in caught.value.content.decode()
    newest = auth.refresh_token
    auth.refresh()
    assert auth.refresh_token != newest


def test_authorization_code_flow_and_revoke(sandbox):
    auth = sandbox.auth_client()
    url = auth.get_authorization_url([Scopes.ACCOUNTING])
    redirect = requests.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    params = dict(p.split("=", 1) for p in redirect.headers["location"].split("?", 1)[1].split("&"))
    assert params["realmId"] == sandbox.realm_id and params["state"] == auth.state_token
    auth.get_bearer_token(params["code"], realm_id=params["realmId"])
    assert auth.access_token and auth.refresh_token
    assert auth.revoke(token=auth.refresh_token) is True
    with pytest.raises(AuthClientError):
        auth.refresh()


def test_revocation_is_served_where_intuit_serves_it_and_ends_the_connection(sandbox):
    """Intuit's discovery document names https://developer.api.intuit.com/v2/oauth2/tokens/revoke; a revoke
    is a JSON {"token"} with HTTP Basic client credentials, answered 200, and ends the connection whichever
    of its tokens is sent (Intuit, "OAuth 2.0": revoke access)."""
    connection = sandbox.connection
    discovery = requests.get(connection["discovery_url"], timeout=10).json()
    assert discovery["revocation_endpoint"].endswith("/v2/oauth2/tokens/revoke")
    refresh_token = sandbox.fresh_refresh_token()
    qb = sandbox.qb_client(refresh_token)
    assert api(sandbox, qb, "GET", "preferences").status_code == 200
    revoke = {"url": discovery["revocation_endpoint"], "timeout": 10, "headers": {"Accept": "application/json"}}
    assert requests.post(**revoke, json={"token": refresh_token}).status_code == 401  # no client credentials
    assert api(sandbox, qb, "GET", "preferences").status_code == 200
    credentials = (connection["client_id"], connection["client_secret"])
    assert requests.post(**revoke, json={"token": refresh_token}, auth=credentials).status_code == 200
    assert api(sandbox, qb, "GET", "preferences").status_code == 401  # the access token went with it
    with pytest.raises(AuthClientError):
        sandbox.auth_client().refresh(refresh_token=refresh_token)


FIVE_YEARS = 5 * 365 * 86400


def token_request(sandbox, refresh_token: str, *, ask_hard_end: bool) -> requests.Response:
    """A refresh at the token endpoint as Intuit documents it, with or without the hard-end header."""
    connection = sandbox.connection
    headers = {"Accept": "application/json"}
    if ask_hard_end:
        headers["x-include-refresh-token-hard-expires-in"] = "true"
    return requests.post(
        connection["discovery_url"].split("/.well-known")[0] + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(connection["client_id"], connection["client_secret"]),
        headers=headers,
        timeout=10,
    )


def test_a_token_answer_tells_the_refresh_tokens_hard_end_only_when_asked(sandbox):
    plain = token_request(sandbox, sandbox.fresh_refresh_token(), ask_hard_end=False).json()
    assert "x_refresh_token_hard_expires_in" not in plain and "x_refresh_token_lifetime_expires_in" not in plain
    assert plain["x_refresh_token_expires_in"] == 8726400  # the 100-day rule, as before
    asked = token_request(sandbox, plain["refresh_token"], ask_hard_end=True).json()
    assert FIVE_YEARS - 60 <= asked["x_refresh_token_hard_expires_in"] <= FIVE_YEARS  # seconds, from consent
    assert "x_refresh_token_lifetime_expires_in" not in asked


def test_a_rotated_refresh_token_keeps_its_chains_hard_end_and_is_refused_past_it(sandbox):
    sandbox.settings(refresh_hard_ttl=3600)  # a consent now ends in an hour
    first = token_request(sandbox, sandbox.fresh_refresh_token(), ask_hard_end=True).json()
    time.sleep(1.1)
    second = token_request(sandbox, first["refresh_token"], ask_hard_end=True).json()
    assert 3500 < second["x_refresh_token_hard_expires_in"] < first["x_refresh_token_hard_expires_in"] <= 3600
    sandbox.control("POST", "tokens/hard-end", {"expires_in": -1})  # the chain's end has passed
    refused = token_request(sandbox, second["refresh_token"], ask_hard_end=True)
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant"}


def test_the_hard_end_can_be_told_under_the_name_intuits_javascript_client_first_read(sandbox):
    sandbox.settings(hard_expiry_field="x_refresh_token_lifetime_expires_in")
    asked = token_request(sandbox, sandbox.fresh_refresh_token(), ask_hard_end=True).json()
    assert asked["x_refresh_token_lifetime_expires_in"] > FIVE_YEARS - 60
    assert "x_refresh_token_hard_expires_in" not in asked

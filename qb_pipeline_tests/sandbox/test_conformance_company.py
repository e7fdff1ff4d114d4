"""What every QuickBooks company answers, as third-party clients ask it: CompanyInfo, Preferences,
every entity name of the query language and CDC, and the company settings the invoice push leans on."""

from __future__ import annotations

import urllib.error
from datetime import datetime, timedelta, timezone

import pytest
from quickbooks.exceptions import ValidationException
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.payment import Payment
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.vendor import Vendor

from qb_pipeline.sandbox.company import CDC_ENTITIES, QUERY_ENTITIES
from qb_pipeline_tests.fixtures.quickbooks_objects import api, make_customer, make_invoice, make_item


def test_company_info_by_realm_id_and_by_query(sandbox):
    qb = sandbox.qb_client()
    info = CompanyInfo.get(sandbox.realm_id, qb=qb)  # the connection probe third-party extractors use
    assert info.Id == sandbox.realm_id and info.CompanyName and info.Country == "US"
    assert info.FiscalYearStartMonth == "January" and info.CompanyAddr.City
    (row,) = CompanyInfo.all(qb=qb)
    assert row.Id == sandbox.realm_id
    assert api(sandbox, qb, "GET", "companyinfo/1").status_code == 400  # only the realm id names it


def test_preferences_read_as_a_us_company_keeping_its_own_invoice_numbers(sandbox):
    prefs = Preferences.get(qb=sandbox.qb_client())
    assert prefs.SalesFormsPrefs.CustomTxnNumbers is True
    assert prefs.CurrencyPrefs.MultiCurrencyEnabled is False and prefs.TaxPrefs.UsingSalesTax is False
    assert prefs.AccountingInfoPrefs.FirstMonthOfFiscalYear == "January"
    assert prefs.ProductAndServicesPrefs.ForSales is True


def numbering_off(sandbox, qb, sync_token: str):
    """A sparse POST of Preferences turning Custom transaction numbers off."""
    body = {"SyncToken": sync_token, "sparse": True, "SalesFormsPrefs": {"CustomTxnNumbers": False}}
    return api(sandbox, qb, "POST", "preferences", json=body)


def test_a_sparse_preferences_update_changes_what_it_sends_and_the_sandbox_setting(sandbox):
    qb = sandbox.qb_client()
    prefs = Preferences.get(qb=qb)
    answer = numbering_off(sandbox, qb, prefs.SyncToken)
    assert answer.status_code == 200, answer.text
    updated = answer.json()["Preferences"]
    assert updated["SalesFormsPrefs"]["CustomTxnNumbers"] is False
    assert updated["SalesFormsPrefs"]["AllowEstimates"] is True  # fields not sent stay
    assert updated["SyncToken"] == str(int(prefs.SyncToken) + 1)
    assert sandbox.control("GET", "settings")["custom_txn_numbers"] is False


def test_a_preferences_update_with_a_stale_sync_token_is_5010(sandbox):
    qb = sandbox.qb_client()
    prefs = Preferences.get(qb=qb)
    numbering_off(sandbox, qb, prefs.SyncToken)
    stale = api(sandbox, qb, "POST", "preferences", json={"SyncToken": prefs.SyncToken, "TaxPrefs": {}})
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"


def test_the_sandbox_setting_is_what_preferences_answer(sandbox):
    qb = sandbox.qb_client()
    numbering_off(sandbox, qb, Preferences.get(qb=qb).SyncToken)
    sandbox.settings(custom_txn_numbers=True)
    assert Preferences.get(qb=qb).SalesFormsPrefs.CustomTxnNumbers is True


def test_without_custom_txn_numbers_quickbooks_numbers_invoices_itself(sandbox):
    sandbox.settings(custom_txn_numbers=False)
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Numbered"), make_item(qb, "Thing")
    first = make_invoice(qb, customer, item, doc_number="SO-1")
    second = make_invoice(qb, customer, item, doc_number="SO-1")  # the number sent is ignored
    assert (first.DocNumber, second.DocNumber) == ("1001", "1002")


def test_a_company_allowing_duplicate_numbers_takes_a_second_invoice_of_one_number(sandbox):
    qb = sandbox.qb_client()
    customer, item = make_customer(qb, "Switches"), make_item(qb, "Thing")
    make_invoice(qb, customer, item, doc_number="D-1")
    with pytest.raises(Exception) as refused:
        make_invoice(qb, customer, item, doc_number="D-1")
    assert "6140" in str(getattr(refused.value, "error_code", "")) or "Duplicate" in str(refused.value)
    sandbox.settings(docnumber_duplicates="allow")
    make_invoice(qb, customer, item, doc_number="D-1")
    assert len(sandbox.dump("Invoice")["records"]) == 2
    assert sandbox.control("GET", "settings")["docnumber_duplicates"] == "allow"


def test_a_company_not_replaying_requestids_processes_a_resent_request_again(sandbox):
    qb = sandbox.qb_client()
    body = {"DisplayName": "Replayed"}
    first = api(sandbox, qb, "POST", "customer?requestid=r-1", json=body).json()["Customer"]
    assert api(sandbox, qb, "POST", "customer?requestid=r-1", json=body).json()["Customer"]["Id"] == first["Id"]
    sandbox.settings(requestid_replay=False)
    again = api(sandbox, qb, "POST", "customer?requestid=r-2", json={"DisplayName": "Twice"})
    again = api(sandbox, qb, "POST", "customer?requestid=r-2", json={"DisplayName": "Twice"})
    assert again.json()["Fault"]["Error"][0]["code"] == "6240"  # processed again, not replayed
    assert sandbox.control("GET", "settings")["requestid_replay"] is False


def test_a_company_setting_of_no_known_value_is_refused(sandbox):
    with pytest.raises(urllib.error.HTTPError):
        sandbox.settings(docnumber_duplicates="sometimes")


@pytest.mark.parametrize(
    "entity", sorted(QUERY_ENTITIES - {"Customer", "Item", "Invoice", "Account", "CompanyInfo", "Preferences"})
)
def test_every_entity_name_quickbooks_knows_answers_an_empty_page(sandbox_server, entity):
    qb = sandbox_server.qb_client()
    assert qb.query(f"SELECT * FROM {entity}")["QueryResponse"] == {}
    assert qb.query(f"SELECT COUNT(*) FROM {entity}")["QueryResponse"]["totalCount"] == 0


def test_library_list_calls_and_unknown_names(sandbox):
    qb = sandbox.qb_client()
    assert Vendor.all(qb=qb) == [] and Payment.all(qb=qb) == []
    assert qb.query("SELECT * FROM Preferences")["QueryResponse"]["Preferences"][0]["Id"] == "1"
    with pytest.raises(ValidationException) as caught:
        qb.query("SELECT * FROM Spaceship")
    assert caught.value.error_code == 4001
    with pytest.raises(ValidationException) as caught:
        qb.query("SELECT * FROM Customer MAXRESULTS 1.5")
    assert caught.value.error_code == 4000


def test_cdc_accepts_all_24_entity_types_in_one_call(sandbox):
    qb = sandbox.qb_client()
    make_customer(qb, "Changed")
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=-8)))
    assert len(CDC_ENTITIES) == 24
    answer = qb.change_data_capture(",".join(sorted(CDC_ENTITIES)), since.strftime("%Y-%m-%dT%H:%M:%S"))
    groups = {
        name: rows
        for group in answer["CDCResponse"][0]["QueryResponse"]
        for name, rows in group.items()
        if isinstance(rows, list)
    }
    assert set(groups) == {"Customer", "Account"}  # the accounts were seeded by the reset a moment ago
    assert [c["DisplayName"] for c in groups["Customer"]] == ["Changed"]
    refused = api(sandbox, qb, "GET", "cdc", params={"entities": "TimeActivity", "changedSince": since.isoformat()})
    assert refused.status_code == 400

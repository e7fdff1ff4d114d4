"""The sandbox's answers against the response shapes Intuit documents, not against our own code.

`reference_shapes/*.json` hold the key names and JSON types of documented answers (Intuit's API
reference samples and the open SDKs' test data; each file names its source and what it skips). Each
test makes the sandbox give the same kind of answer over HTTP and requires every documented key, with
its documented type; extra keys are allowed. An array in a shape gives its element's shape: with one
element every item of the answer must match it; with several (kinds of Line, CDC groups, batch items)
each must match some item. One documented rule is checked on every answer as well: QuickBooks returns
only the properties that have values (Intuit's data-queries page), so an answer holds no JSON null.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

SHAPES = Path(__file__).parent / "reference_shapes"


def shape(name: str) -> dict:
    return json.loads((SHAPES / f"{name}.json").read_text())["shape"]


def _type_name(value) -> str:
    for name, kind in (("null", type(None)), ("boolean", bool), ("string", str), ("object", dict), ("array", list)):
        if isinstance(value, kind):
            return name
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def mismatches(documented, actual, path: str = "$") -> list[str]:
    """Every documented key missing from `actual` or of another type, by path (empty when it conforms)."""
    if isinstance(documented, str):
        if _type_name(actual) == documented:
            return []
        return [f"{path}: documented {documented}, got {_type_name(actual)} {json.dumps(actual)[:60]}"]
    if isinstance(documented, dict):
        return _object_mismatches(documented, actual, path)
    return _array_mismatches(documented, actual, path)


def _object_mismatches(documented: dict, actual, path: str) -> list[str]:
    if not isinstance(actual, dict):
        return [f"{path}: documented object, got {_type_name(actual)}"]
    problems = []
    for key, inner in documented.items():
        if key in actual:
            problems += mismatches(inner, actual[key], f"{path}.{key}")
        else:
            kind = inner if isinstance(inner, str) else _type_name(inner)
            problems.append(f"{path}.{key}: missing (documented {kind})")
    return problems


def _array_mismatches(documented: list, actual, path: str) -> list[str]:
    """One documented element: every item matches it; several: each matches some item."""
    if not isinstance(actual, list):
        return [f"{path}: documented array, got {_type_name(actual)}"]
    if not actual:
        return [f"{path}: empty array; the documented answer has elements here"]
    if len(documented) == 1:
        return [p for i, item in enumerate(actual) for p in mismatches(documented[0], item, f"{path}[{i}]")]
    problems = []
    for number, kind in enumerate(documented, start=1):
        tries = [mismatches(kind, item, f"{path}[{i}]") for i, item in enumerate(actual)]
        if all(tries):
            nearest = min(tries, key=len)
            problems.append(f"{path}: no element of documented kind {number}; nearest: {'; '.join(nearest)}")
    return problems


def nulls(value, path: str = "$") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def conforms(name: str, answer: dict, documented: dict | None = None) -> None:
    problems = mismatches(shape(name) if documented is None else documented, answer)
    problems += [f"{p}: null (QuickBooks leaves out properties without a value)" for p in nulls(answer)]
    assert not problems, f"the sandbox's answer differs from {name}.json:\n  " + "\n  ".join(problems)


class Api:
    """Plain HTTP against the sandbox, the way Intuit's pages show the calls (plain json, no Decimal)."""

    def __init__(self, sandbox) -> None:
        self.base = f"{sandbox.connection['api_base_url']}/company/{sandbox.realm_id}"
        self.headers = {
            "Authorization": f"Bearer {sandbox.qb_client().session.access_token}",
            "Accept": "application/json",
        }

    def request(self, method: str, path: str, *, ok: bool = True, **kwargs) -> dict:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = requests.request(
            method,
            f"{self.base}/{path}",
            headers=headers,
            timeout=30,
            params={"minorversion": "75", **kwargs.pop("params", {})},
            **kwargs,
        )
        assert (response.status_code == 200) is ok, response.text
        return response.json()

    def get(self, path: str, **kwargs) -> dict:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict, **kwargs) -> dict:
        return self.request("POST", path, json=body, **kwargs)


@pytest.fixture
def api(sandbox) -> Api:
    return Api(sandbox)


def make_customer(api: Api, name: str = "Bill's Windsurf Shop") -> dict:
    return api.post(
        "customer",
        {
            "DisplayName": name,
            "GivenName": "Bill",
            "FamilyName": "Lucchini",
            "CompanyName": name,
            "PrimaryEmailAddr": {"Address": "Surf@Intuit.com"},
            "PrimaryPhone": {"FreeFormNumber": "(415) 444-6538"},
            "BillAddr": {
                "Line1": "12 Ocean Dr.",
                "City": "Half Moon Bay",
                "CountrySubDivisionCode": "CA",
                "PostalCode": "94213",
            },
        },
    )


def make_item(api: Api, name: str = "Rock Fountain") -> dict:
    return api.post(
        "item",
        {
            "Name": name,
            "Type": "Service",
            "IncomeAccountRef": {"value": "2"},
            "UnitPrice": 275,
            "Description": "Rock Fountain",
        },
    )


def make_invoice(api: Api, customer_id: str, item_id: str, doc_number: str = "1037") -> dict:
    return api.post(
        "invoice",
        {
            "CustomerRef": {"value": customer_id},
            "DocNumber": doc_number,
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 275.0,
                    "Description": "Rock Fountain",
                    "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": 275},
                }
            ],
        },
    )


def test_company_info_matches_intuits_sample(sandbox, api):
    conforms("company_info", api.get(f"companyinfo/{sandbox.realm_id}"))
    (row,) = api.get("query", params={"query": "select * from CompanyInfo"})["QueryResponse"]["CompanyInfo"]
    conforms("company_info", {"CompanyInfo": row, "time": "-"})


def test_preferences_match_intuits_sample(api):
    conforms("preferences", api.get("preferences"))


def test_customer_create_and_read_match_intuits_sample(api):
    created = make_customer(api)
    conforms("customer", created)
    conforms("customer", api.get(f"customer/{created['Customer']['Id']}"))


def test_item_create_and_read_match_intuits_sample(api):
    created = make_item(api)
    conforms("item", created)
    conforms("item", api.get(f"item/{created['Item']['Id']}"))


def test_invoice_create_and_read_match_intuits_sample(api):
    customer = api.post("customer", {"DisplayName": "Amy's Bird Sanctuary"})["Customer"]
    invoice = make_invoice(api, customer["Id"], make_item(api)["Item"]["Id"])
    conforms("invoice", invoice)
    conforms("invoice", api.get(f"invoice/{invoice['Invoice']['Id']}"))


def test_payment_create_and_read_match_intuits_sample(api):
    customer = api.post("customer", {"DisplayName": "Red Rock Diner"})["Customer"]
    invoice = make_invoice(api, customer["Id"], make_item(api)["Item"]["Id"])["Invoice"]
    link = {"TxnId": invoice["Id"], "TxnType": "Invoice"}
    payment = api.post(
        "payment",
        {"TotalAmt": 25, "CustomerRef": {"value": customer["Id"]}, "Line": [{"Amount": 25, "LinkedTxn": [link]}]},
    )
    conforms("payment", payment)
    conforms("payment", api.get(f"payment/{payment['Payment']['Id']}"))


def test_a_query_page_matches_intuits_envelope(sandbox, api):
    sandbox.seed(customers=3)
    make_customer(api)
    conforms("query_page", api.get("query", params={"query": "select * from Customer"}))
    posted = api.request(
        "POST",
        "query",
        data="select * from Customer STARTPOSITION 2 MAXRESULTS 2",
        headers={"Content-Type": "application/text"},
    )
    conforms("query_page", posted)


def test_a_cdc_answer_matches_intuits_sample(api):
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(timespec="seconds")
    customer = make_customer(api)["Customer"]
    item_id = make_item(api)["Item"]["Id"]
    make_invoice(api, customer["Id"], item_id, "1037")
    gone = make_invoice(api, customer["Id"], item_id, "1038")["Invoice"]
    api.post("invoice", {"Id": gone["Id"], "SyncToken": gone["SyncToken"]}, params={"operation": "delete"})
    conforms("cdc", api.get("cdc", params={"entities": "Customer,Invoice", "changedSince": since}))


def test_a_batch_answer_matches_intuits_sample(api):
    customer = make_customer(api)["Customer"]
    answer = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "bid1", "operation": "create", "Customer": {"DisplayName": customer["DisplayName"]}},
                {"bId": "bid2", "operation": "delete", "Invoice": {"Id": "129", "SyncToken": "0"}},
                {
                    "bId": "bid3",
                    "operation": "update",
                    "Customer": {"Id": customer["Id"], "SyncToken": "7", "sparse": True, "Notes": "stale"},
                },
                {"bId": "bid4", "Query": "select * from Customer"},
                {"bId": "bid5", "operation": "create", "Customer": {"DisplayName": "Smith Family Store"}},
            ]
        },
    )
    conforms("batch", answer)
    codes = {item["bId"]: item["Fault"]["Error"][0]["code"] for item in answer["BatchItemResponse"] if "Fault" in item}
    assert codes == {"bid1": "6240", "bid2": "610", "bid3": "5010"}


def test_faults_match_intuits_envelope(api):
    customer = make_customer(api)["Customer"]
    answers = {
        "610": api.get("customer/999", ok=False),
        "6240": api.post("customer", {"DisplayName": customer["DisplayName"]}, ok=False),
        "5010": api.post("customer", {"Id": customer["Id"], "SyncToken": "9", "sparse": True, "Notes": "x"}, ok=False),
    }
    for code, answer in answers.items():
        conforms("fault", answer)
        assert answer["Fault"]["Error"][0]["code"] == code


def test_the_checker_names_the_path_of_what_differs():
    documented = {"A": {"B": "number", "C": [{"D": "string"}]}, "E": "boolean"}
    assert mismatches(documented, {"A": {"B": "1", "C": [{"D": "x"}, {}]}, "E": 1}) == [
        '$.A.B: documented number, got string "1"',
        "$.A.C[1].D: missing (documented string)",
        "$.E: documented boolean, got number 1",
    ]
    assert nulls({"A": [{"B": None}]}) == ["$.A[0].B"]
    assert all(sorted(json.loads(p.read_text())) == ["notes", "shape", "source"] for p in SHAPES.glob("*.json"))

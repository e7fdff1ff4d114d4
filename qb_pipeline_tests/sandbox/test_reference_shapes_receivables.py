"""The sandbox's credit memos and receivables reports against the shapes Intuit documents
(reference_shapes/credit_memo.json, aged_receivables.json, customer_sales.json,
report_columns_by_period.json; the checker and its rules are test_reference_shapes.py's)."""

from __future__ import annotations

import pytest

from qb_pipeline_tests.sandbox.test_reference_shapes import Api, conforms, make_customer, make_invoice, make_item

# Intuit's ARAgingSummary example: the Customer column, then these Money columns.
AGING_COLUMNS = ["Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"]


@pytest.fixture
def plain(sandbox) -> Api:
    return Api(sandbox)


@pytest.fixture
def owing(plain):
    """A customer with an invoice of 275.00 and a credit memo of 50.00: (customer, item id)."""
    customer = make_customer(plain, "Cool Cars")["Customer"]
    item_id = make_item(plain, "Concrete")["Item"]["Id"]
    make_invoice(plain, customer["Id"], item_id)
    return customer, item_id


def test_credit_memo_create_and_read_match_intuits_sample(plain, owing):
    customer, item_id = owing
    created = plain.post(
        "creditmemo",
        {
            "DocNumber": "1039",
            "CustomerRef": {"name": "CoolCars", "value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 50,
                    # Intuit's request sends ItemRef alone; the sandbox prices a line without Qty and
                    # UnitPrice at the item's price (275.00), so they are sent.
                    "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": 50},
                }
            ],
        },
    )
    conforms("credit_memo", created)
    conforms("credit_memo", plain.get(f"creditmemo/{created['CreditMemo']['Id']}"))
    memo = created["CreditMemo"]
    assert (memo["TotalAmt"], memo["Balance"], memo["RemainingCredit"]) == (50, 50, 50)


def test_aged_receivables_matches_intuits_example(plain, owing):
    customer, _item_id = owing
    answer = plain.get("reports/AgedReceivables", params={"customer": customer["Id"]})
    conforms("aged_receivables", answer)
    columns = answer["Columns"]["Column"]
    assert [(c["ColType"], c["ColTitle"]) for c in columns] == [("Customer", "")] + [
        ("Money", title) for title in AGING_COLUMNS
    ]
    assert answer["Header"]["ReportName"] == "AgedReceivables"
    assert answer["Rows"]["Row"][-1]["group"] == "GrandTotal"
    assert answer["Rows"]["Row"][-1]["Summary"]["ColData"][0]["value"] == "TOTAL"


def test_customer_sales_matches_intuits_example(plain, owing):
    customer, _item_id = owing
    answer = plain.get("reports/CustomerSales", params={"customer": customer["Id"]})
    conforms("customer_sales", answer)
    assert [(c["ColType"], c["ColTitle"]) for c in answer["Columns"]["Column"]] == [
        ("Customer", ""),
        ("Money", "Total"),
    ]
    assert (answer["Header"]["ReportName"], answer["Header"]["SummarizeColumnsBy"]) == ("CustomerSales", "Total")


def test_customer_sales_by_month_has_the_period_columns_of_a_summarized_report(plain, owing):
    answer = plain.get("reports/CustomerSales", params={"summarize_column_by": "Month"})
    conforms("report_columns_by_period", answer)
    months = [c for c in answer["Columns"]["Column"] if c["ColTitle"] not in ("", "Total")]
    assert months and all([m["Name"] for m in c["MetaData"]] == ["StartDate", "EndDate", "ColKey"] for c in months)

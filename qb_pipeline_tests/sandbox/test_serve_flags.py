"""`qb-pipeline sandbox serve` flags for the company settings the at-most-one-invoice proofs lean on
(`--docnumber-duplicates`, `--requestid-replay/--no-requestid-replay`, `--custom-txn-numbers/…`): a
sandbox started with a flag reports the setting (GET /_sandbox/settings) and behaves by it, counted in
its own dump. Each test starts a sandbox process of its own, as `make drill` and the benchmarks do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.preferences import Preferences

from qb_pipeline_tests.fixtures.quickbooks_objects import make_customer, make_item
from qb_pipeline_tests.fixtures.sandbox import SandboxHandle

COMPANY_SETTINGS = ("docnumber_duplicates", "requestid_replay", "custom_txn_numbers")


@contextmanager
def serving(data_dir: Path, *flags: str) -> Iterator[SandboxHandle]:
    sandbox = SandboxHandle(data_dir, extra=flags)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def company_settings(sandbox: SandboxHandle) -> tuple:
    settings = sandbox.control("GET", "settings")
    return tuple(settings[name] for name in COMPANY_SETTINGS)


def send_invoice(qb, customer, item, doc_number: str, request_id: str | None = None) -> Invoice:
    line = SalesItemLine()
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty, line.SalesItemLineDetail.UnitPrice = Decimal("2"), Decimal("10.00")
    line.Amount = Decimal("20.00")
    invoice = Invoice()
    invoice.CustomerRef, invoice.DocNumber = customer.to_ref(), doc_number
    invoice.Line.append(line)
    return invoice.save(qb=qb, request_id=request_id)


def doc_numbers(sandbox: SandboxHandle) -> list[str]:
    """From the sandbox's own records, in Id order."""
    return [record["DocNumber"] for record in sandbox.dump("Invoice")["records"]]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), ("refuse", True, True)),
        (("--docnumber-duplicates", "allow", "--no-requestid-replay"), ("allow", False, True)),
    ],
    ids=["defaults", "loose_company"],
)
def test_serve_flags_set_docnumber_duplicates_and_requestid_replay(tmp_path, flags, expected):
    loose = expected[:2] == ("allow", False)
    with serving(tmp_path / "sandbox", *flags) as sandbox:
        assert company_settings(sandbox) == expected
        qb = sandbox.qb_client()
        customer, item = make_customer(qb, "Flagged"), make_item(qb, "Thing")

        send_invoice(qb, customer, item, "D-1")
        if loose:
            send_invoice(qb, customer, item, "D-1")  # accepted: a second invoice with that number
        else:
            with pytest.raises(QuickbooksException) as refused:
                send_invoice(qb, customer, item, "D-1")
            assert str(refused.value.error_code) == "6140"
        first = send_invoice(qb, customer, item, "R-1", request_id="one-request")
        again = send_invoice(qb, customer, item, "R-1", request_id="one-request")
        if loose:
            assert again.Id != first.Id, "a repeated requestid was answered from the first call"
        else:
            assert again.Id == first.Id, "a repeated requestid was processed a second time"

        assert doc_numbers(sandbox) == (["D-1", "D-1", "R-1", "R-1"] if loose else ["D-1", "R-1"])


def test_serve_flag_custom_txn_numbers_off_numbers_invoices_itself_and_stays_with_the_state_folder(tmp_path):
    data_dir = tmp_path / "sandbox"
    with serving(data_dir, "--no-custom-txn-numbers") as sandbox:
        assert company_settings(sandbox) == ("refuse", True, False)
        qb = sandbox.qb_client()
        assert Preferences.get(qb=qb).SalesFormsPrefs.CustomTxnNumbers is False  # what the push's check reads
        customer, item = make_customer(qb, "Numbered"), make_item(qb, "Thing")
        send_invoice(qb, customer, item, "SO-1")
        send_invoice(qb, customer, item, "SO-1")  # the number sent is ignored: no 6140
        assert doc_numbers(sandbox) == ["1001", "1002"]

    with serving(data_dir) as sandbox:  # no flag: the company keeps its setting
        assert company_settings(sandbox)[2] is False

    with serving(data_dir, "--custom-txn-numbers") as sandbox:
        assert company_settings(sandbox)[2] is True
        qb = sandbox.qb_client()
        assert Preferences.get(qb=qb).SalesFormsPrefs.CustomTxnNumbers is True
        customer = make_customer(qb, "Numbered by us")
        (item,) = Item.filter(Name="Thing", qb=qb)
        send_invoice(qb, customer, item, "SO-2")
        assert doc_numbers(sandbox) == ["1001", "1002", "SO-2"]

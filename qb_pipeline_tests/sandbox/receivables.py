"""Invoices, credit memos and payments made in the sandbox through the real python-quickbooks client,
dated as a test needs them, and the reports read back with that client."""

from __future__ import annotations

from decimal import Decimal

from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine


def item_line(item, amount: str) -> SalesItemLine:
    line = SalesItemLine()
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty = Decimal("1")
    line.SalesItemLineDetail.UnitPrice = Decimal(amount)
    line.Amount = Decimal(amount)
    return line


def dated_invoice(qb, customer, item, amount: str, txn_date: str, due_date: str, doc_number: str) -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.DocNumber, invoice.TxnDate, invoice.DueDate = doc_number, txn_date, due_date
    invoice.Line.append(item_line(item, amount))
    return invoice.save(qb=qb)


def credit_memo(qb, customer, item, amount: str, txn_date: str = "") -> CreditMemo:
    memo = CreditMemo()
    memo.CustomerRef = customer.to_ref()
    memo.TxnDate = txn_date
    memo.Line.append(item_line(item, amount))
    return memo.save(qb=qb)


def apply_credit(qb, customer, invoice, memo, amount: str, cash: str = "0") -> Payment:
    """What QuickBooks' "Receive payment" records when a credit memo pays an invoice: a payment whose
    invoice line and credit memo line cancel out, plus any cash (`cash`) paid on the invoice."""
    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = Decimal(cash)
    for linked, applied in ((invoice, Decimal(amount) + Decimal(cash)), (memo, Decimal(amount))):
        line = PaymentLine()
        line.Amount = applied
        line.LinkedTxn.append(linked.to_linked_txn())
        payment.Line.append(line)
    return payment.save(qb=qb)


def balance_of(qb, invoice) -> Decimal:
    return Decimal(str(Invoice.get(invoice.Id, qb=qb).Balance))


def credit_left(qb, memo) -> Decimal:
    return Decimal(str(CreditMemo.get(memo.Id, qb=qb).RemainingCredit))


def cdc_groups(answer: dict) -> dict[str, list[dict]]:
    """Entity name → the records of a CDC answer."""
    return {
        name: rows
        for group in answer["CDCResponse"][0]["QueryResponse"]
        for name, rows in group.items()
        if isinstance(rows, list)
    }


def dated_payment(qb, customer, invoice, amount: str, txn_date: str) -> Payment:
    payment = Payment()
    payment.CustomerRef, payment.TotalAmt, payment.TxnDate = customer.to_ref(), Decimal(amount), txn_date
    line = PaymentLine()
    line.Amount = Decimal(amount)
    line.LinkedTxn.append(invoice.to_linked_txn())
    payment.Line.append(line)
    return payment.save(qb=qb)


def report_rows(report: dict) -> list[list[str]]:
    """Each row of a report as its cells' values: the customer rows, then the GrandTotal summary."""
    return [
        [cell["value"] for cell in (row["ColData"] if "ColData" in row else row["Summary"]["ColData"])]
        for row in report["Rows"].get("Row", [])
    ]

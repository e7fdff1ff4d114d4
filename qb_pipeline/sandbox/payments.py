"""Payments: a payment line linked to an invoice lowers that invoice's Balance (paid at 0).

As Intuit documents: `Line[].LinkedTxn[{TxnId, TxnType: "Invoice"}]` with `Amount` applies the payment
to the invoice; what the lines do not apply is `UnappliedAmt`. Applying, changing, voiding or deleting
a payment updates each invoice it touches (new SyncToken and LastUpdatedTime, so the change shows in
CDC) and the customer's Balance. Choices where Intuit is silent: a line may not apply more than the
invoice's open balance, nor the lines more than TotalAmt (6000); only invoices can be linked.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from qb_pipeline.sandbox.store import COMPANY_TZ, qbo_time
from qb_pipeline.sandbox.validation import Fault, decimal_field, reference

ZERO = Decimal("0")


def applications(payment: dict | None) -> dict[str, Decimal]:
    """Invoice id → amount this payment applies to it."""
    applied: dict[str, Decimal] = {}
    for line in (payment or {}).get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            applied[str(link["TxnId"])] = applied.get(str(link["TxnId"]), ZERO) + Decimal(str(line.get("Amount", 0)))
    return applied


class PaymentRules:
    """Mixed into `entities.Rules` (which provides `store` and `_adjust_balance`)."""

    def _payment(self, realm: str, fields: dict, current: dict | None, _allow_duplicates: bool) -> dict:
        customer = reference(self.store, realm, "Customer", fields.get("CustomerRef"), "CustomerRef")
        fields["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        total = _total_amount(fields)
        lines = [
            self._payment_line(realm, number, line, customer)
            for number, line in enumerate(fields.get("Line") or [], start=1)
        ]
        applied = sum((line["Amount"] for line in lines), ZERO)
        if applied > total:
            raise Fault(
                "6000",
                "A business validation error has occurred",
                f"The lines apply {applied}, more than the payment's TotalAmt {total}",
            )
        fields.update(Line=lines, TotalAmt=total, UnappliedAmt=total - applied)
        self._check_open_balances(realm, applications(fields), applications(current))
        if not fields.get("TxnDate"):
            fields["TxnDate"] = datetime.now(timezone.utc).astimezone(COMPANY_TZ).date().isoformat()
        fields.setdefault("ProcessPayment", False)  # no merchant service behind the sandbox
        return fields

    def _payment_line(self, realm: str, number: int, line: dict, customer: dict) -> dict:
        """Line `number` as stored: its Amount a Decimal, each link an invoice of the payment's customer."""
        amount = decimal_field(line.get("Amount"), f"Line {number} Amount") or ZERO
        links = line.get("LinkedTxn") or []
        for link in links:
            if link.get("TxnType") != "Invoice":
                raise Fault(
                    "2050",
                    "Invalid Enumeration",
                    f"Line {number}: the sandbox applies payments to invoices only, not {link.get('TxnType')!r}",
                    element="Line.LinkedTxn.TxnType",
                )
            invoice = reference(self.store, realm, "Invoice", {"value": link.get("TxnId")}, "LinkedTxn.TxnId")
            if invoice["CustomerRef"]["value"] != customer["Id"]:
                raise Fault(
                    "6000",
                    "A business validation error has occurred",
                    f"Line {number}: invoice {invoice['Id']} belongs to another customer",
                )
        return {
            **line,
            "Amount": amount,
            "LinkedTxn": [{"TxnId": str(link["TxnId"]), "TxnType": "Invoice"} for link in links],
        }

    def _check_open_balances(self, realm: str, applied: dict[str, Decimal], previously: dict[str, Decimal]) -> None:
        """No invoice gets more than its open balance (what this payment applied to it before counts as open)."""
        for invoice_id, amount in applied.items():
            available = Decimal(str(self.store.get(realm, "Invoice", int(invoice_id))["Balance"])) + previously.get(
                invoice_id, ZERO
            )
            if amount > available:
                raise Fault(
                    "6000",
                    "A business validation error has occurred",
                    f"The payment applies {amount} to invoice {invoice_id}, whose open balance is {available}",
                )

    def apply_payment_change(self, realm: str, before: dict | None, after: dict | None) -> None:
        """Move invoice and customer balances from what `before` applied to what `after` applies."""
        old, new = applications(before), applications(after)
        for invoice_id in old.keys() | new.keys():
            delta = new.get(invoice_id, ZERO) - old.get(invoice_id, ZERO)
            invoice = self.store.get(realm, "Invoice", int(invoice_id))
            if not delta or invoice is None:
                continue
            changed = {
                **invoice,
                "Balance": Decimal(str(invoice["Balance"])) - delta,
                "SyncToken": str(int(invoice["SyncToken"]) + 1),
                "MetaData": {**invoice["MetaData"], "LastUpdatedTime": qbo_time()},
            }
            self.store.put(realm, "Invoice", changed)
            self._adjust_balance(realm, invoice["CustomerRef"]["value"], -delta)
            self.store.notify(realm, "Invoice", "updated", [changed])

    def void_payment(self, realm: str, current: dict) -> dict:
        record = {
            **current,
            "TotalAmt": ZERO,
            "UnappliedAmt": ZERO,
            "PrivateNote": "Voided",
            "Line": [{**line, "Amount": ZERO} for line in current.get("Line") or []],
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {**current["MetaData"], "LastUpdatedTime": qbo_time()},
        }
        self.store.put(realm, "Payment", record)
        self.apply_payment_change(realm, current, None)
        return record


def _total_amount(fields: dict) -> Decimal:
    total = decimal_field(fields.get("TotalAmt"), "TotalAmt")
    if total is None:
        raise Fault(
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter TotalAmt is missing in the request",
            element="TotalAmt",
        )
    if total < 0:
        raise Fault("2050", "Invalid Number", f"TotalAmt {total} is negative", element="TotalAmt")
    return total

"""Payments: a payment line linked to an invoice lowers that invoice's Balance (paid at 0); a line linked
to a credit memo uses up that much of the memo's credit (its RemainingCredit and Balance).

As Intuit documents (Payment: "A Payment can be linked to multiple Invoices or Credit Memos"):
`Line[].LinkedTxn[{TxnId, TxnType: "Invoice" | "CreditMemo"}]` with `Amount` applies the payment to the
invoice or takes credit from the memo, and what the lines do not apply is `UnappliedAmt` = TotalAmt −
(invoice lines − credit memo lines). Applying a credit memo to an invoice is a payment whose invoice and
memo lines cancel out (TotalAmt 0), as QuickBooks' "Receive payment" screen records it. Applying,
changing, voiding or deleting a payment updates each invoice and memo it touches (new SyncToken and
LastUpdatedTime, so the change shows in CDC and webhooks) and the customer's Balance. Choices where Intuit
is silent (6000): a line may not apply more than the invoice's open balance or the memo's remaining
credit, the lines no more than TotalAmt, the memo lines no more than the invoice lines.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from qb_pipeline.sandbox.store import COMPANY_TZ, qbo_time
from qb_pipeline.sandbox.validation import Fault, decimal_field, reference

ZERO = Decimal("0")
LINKABLE = ("Invoice", "CreditMemo")  # what a payment line may link (Intuit's Payment.LinkedTxn)
OPEN_FIELDS = {"Invoice": ("Balance",), "CreditMemo": ("Balance", "RemainingCredit")}


def applications(payment: dict | None) -> dict[tuple[str, str], Decimal]:
    """(TxnType, TxnId) → amount this payment applies to that invoice or takes from that credit memo."""
    applied: dict[tuple[str, str], Decimal] = {}
    for line in (payment or {}).get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            key = (str(link.get("TxnType")), str(link["TxnId"]))
            applied[key] = applied.get(key, ZERO) + Decimal(str(line.get("Amount", 0)))
    return applied


def applied_to(store, realm: str, kind: str, txn_id: str) -> Decimal:
    """How much the company's payments apply to invoice or credit memo `txn_id` (`kind`)."""
    return sum((applications(p).get((kind, str(txn_id)), ZERO) for p in store.all(realm, "Payment")), ZERO)


def open_amount(entity: str, record: dict) -> Decimal:
    """What `record` adds to its customer's open balance: an invoice its Balance, a credit memo minus
    the credit it still holds."""
    if entity == "CreditMemo":
        return -Decimal(str(record.get("RemainingCredit", 0)))
    return Decimal(str(record.get("Balance", 0)))


def _business_fault(detail: str) -> Fault:
    return Fault("6000", "A business validation error has occurred", detail)


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
        fields.update(Line=lines, TotalAmt=total)
        applied = applications(fields)
        paid = sum((amount for (kind, _), amount in applied.items() if kind == "Invoice"), ZERO)
        credited = sum((amount for (kind, _), amount in applied.items() if kind == "CreditMemo"), ZERO)
        if credited > paid:
            raise _business_fault(f"The lines take {credited} of credit but apply only {paid} to invoices")
        if paid - credited > total:
            raise _business_fault(
                f"The lines apply {paid - credited} (invoices {paid} less credits {credited}), "
                f"more than the payment's TotalAmt {total}"
            )
        fields["UnappliedAmt"] = total - (paid - credited)
        self._check_open_balances(realm, applied, applications(current))
        if not fields.get("TxnDate"):
            fields["TxnDate"] = datetime.now(timezone.utc).astimezone(COMPANY_TZ).date().isoformat()
        fields.setdefault("ProcessPayment", False)  # no merchant service behind the sandbox
        return fields

    def _payment_line(self, realm: str, number: int, line: dict, customer: dict) -> dict:
        """Line `number` as stored: its Amount a Decimal, each link an invoice or credit memo of the
        payment's customer."""
        amount = decimal_field(line.get("Amount"), f"Line {number} Amount") or ZERO
        links = line.get("LinkedTxn") or []
        for link in links:
            kind = link.get("TxnType")
            if kind not in LINKABLE:
                raise Fault(
                    "2050",
                    "Invalid Enumeration",
                    f"Line {number}: the sandbox applies payments to invoices and credit memos only, not {kind!r}",
                    element="Line.LinkedTxn.TxnType",
                )
            linked = reference(self.store, realm, kind, {"value": link.get("TxnId")}, "LinkedTxn.TxnId")
            if linked["CustomerRef"]["value"] != customer["Id"]:
                raise _business_fault(f"Line {number}: {kind} {linked['Id']} belongs to another customer")
        return {
            **line,
            "Amount": amount,
            "LinkedTxn": [{"TxnId": str(link["TxnId"]), "TxnType": link["TxnType"]} for link in links],
        }

    def _check_open_balances(
        self, realm: str, applied: dict[tuple[str, str], Decimal], previously: dict[tuple[str, str], Decimal]
    ) -> None:
        """No invoice gets more than its open balance, no memo gives more than its remaining credit (what
        this payment applied before counts as open)."""
        for (kind, txn_id), amount in applied.items():
            field = OPEN_FIELDS[kind][-1]
            record = self.store.get(realm, kind, int(txn_id))
            available = Decimal(str(record[field])) + previously.get((kind, txn_id), ZERO)
            if amount > available:
                what = "open balance" if kind == "Invoice" else "remaining credit"
                raise _business_fault(f"The payment applies {amount} to {kind} {txn_id}, whose {what} is {available}")

    def apply_payment_change(
        self, realm: str, before: dict | None, after: dict | None, *, leave: tuple[str, str] | None = None
    ) -> None:
        """Move invoice, credit memo and customer balances from what `before` applied to what `after`
        applies (`leave`: a (TxnType, TxnId) whose record the caller is about to replace itself)."""
        old, new = applications(before), applications(after)
        for key in dict.fromkeys([*old, *new]):  # in the order of the lines, so notifications are too
            kind, txn_id = key
            delta = new.get(key, ZERO) - old.get(key, ZERO)
            record = self.store.get(realm, kind, int(txn_id))
            if not delta or record is None or key == leave:
                continue
            changed = {
                **record,
                **{field: Decimal(str(record[field])) - delta for field in OPEN_FIELDS[kind]},
                "SyncToken": str(int(record["SyncToken"]) + 1),
                "MetaData": {**record["MetaData"], "LastUpdatedTime": qbo_time()},
            }
            self.store.put(realm, kind, changed)
            self._adjust_balance(
                realm, record["CustomerRef"]["value"], open_amount(kind, changed) - open_amount(kind, record)
            )
            self.store.notify(realm, kind, "updated", [changed])

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

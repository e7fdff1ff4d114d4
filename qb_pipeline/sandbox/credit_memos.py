"""Credit memos: a credit the customer holds, lowering their open balance until it is applied to an
invoice (through a payment whose lines link both: payments.py) or the memo is voided or deleted.

As Intuit documents (CreditMemo): CustomerRef and at least one SalesItemLine are required; QuickBooks
appends a SubTotalLine and computes TotalAmt (whatever the client sends is overwritten); `RemainingCredit`
("the total credit amount still available to apply") and `Balance` start at TotalAmt and fall as
payments apply the memo; delete is `operation=delete` with Id and SyncToken. Choices where Intuit is
silent: voiding (`operation=void`; Intuit's API reference documents no void for credit memos, QuickBooks'
screens have one) zeroes the memo's amounts and notes "Voided", as a voided invoice or payment; voiding or
deleting a memo that payments apply takes it off those payments (each payment's memo lines go and its
invoice lines shrink by as much, so the invoices get that balance back and the payment's UnappliedAmt
stays); an update may not lower TotalAmt below what payments apply, nor move an applied memo to another
customer (6000).
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import Decimal

from qb_pipeline.sandbox.payments import ZERO, applications, applied_to
from qb_pipeline.sandbox.store import COMPANY_TZ, qbo_time
from qb_pipeline.sandbox.validation import Fault, reference

# What QuickBooks fills in on a credit memo (Intuit's "create a credit memo" sample).
CREDIT_MEMO_DEFAULTS = (
    ("EmailStatus", "NotSet"),
    ("ApplyTaxAfterDiscount", False),
    ("TxnTaxDetail", {"TotalTax": ZERO}),
)


class CreditMemoRules:
    """Mixed into `entities.Rules` (which provides `store`, `_invoice_line`, `_adjust_balance` and
    `apply_payment_change`)."""

    def _credit_memo(self, realm: str, fields: dict, current: dict | None, _allow_duplicates: bool) -> dict:
        customer = reference(self.store, realm, "Customer", fields.get("CustomerRef"), "CustomerRef")
        fields["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        if current and current["CustomerRef"]["value"] != customer["Id"]:
            if applied_to(self.store, realm, "CreditMemo", current["Id"]):
                raise Fault(
                    "6000",
                    "A business validation error has occurred",
                    "Payments apply this credit memo, so it cannot move to another customer",
                )
        total, applied = self._sales_lines(realm, "CreditMemo", fields, current)
        fields["TotalAmt"] = total
        fields["RemainingCredit"] = fields["Balance"] = total - applied
        if not fields.get("TxnDate"):
            fields["TxnDate"] = datetime.now(timezone.utc).astimezone(COMPANY_TZ).date().isoformat()
        fields.setdefault(
            "PrintStatus", "NeedToPrint" if customer.get("PreferredDeliveryMethod") == "Print" else "NotSet"
        )
        for key, value in CREDIT_MEMO_DEFAULTS:
            fields.setdefault(key, value)
        return fields

    def remove_credit_memo(self, realm: str, memo: dict) -> None:
        """Take `memo` off every payment that applies it (each a new version), give the invoices those
        payments paid with it their balance back, and the customer the credit the memo still held."""
        key = ("CreditMemo", str(memo["Id"]))
        for payment in self.store.all(realm, "Payment"):
            if not applications(payment).get(key):  # a voided payment's lines apply nothing
                continue
            changed = _without_credit(payment, str(memo["Id"]))
            self.store.put(realm, "Payment", changed)
            self.apply_payment_change(realm, payment, changed, leave=key)
            self.store.notify(realm, "Payment", "updated", [changed])
        self._adjust_balance(realm, memo["CustomerRef"]["value"], Decimal(str(memo.get("RemainingCredit", 0))))

    def void_credit_memo(self, realm: str, current: dict) -> dict:
        self.remove_credit_memo(realm, current)
        record = {
            **current,
            "TotalAmt": ZERO,
            "Balance": ZERO,
            "RemainingCredit": ZERO,
            "PrivateNote": "Voided",
            "Line": [{**line, "Amount": ZERO} for line in current["Line"]],
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {**current["MetaData"], "LastUpdatedTime": qbo_time()},
        }
        self.store.put(realm, "CreditMemo", record)
        return record


def _without_credit(payment: dict, memo_id: str) -> dict:
    """A new version of `payment` without its lines taking credit from memo `memo_id`, its invoice lines
    (last first) lowered by the same amount, so TotalAmt and UnappliedAmt stay as they were."""
    changed = copy.deepcopy(payment)
    linked = [
        line
        for line in changed["Line"]
        if any(link.get("TxnType") == "CreditMemo" and str(link["TxnId"]) == memo_id for link in line["LinkedTxn"])
    ]
    released = sum((Decimal(str(line["Amount"])) for line in linked), ZERO)
    lines = [line for line in changed["Line"] if line not in linked]
    for line in reversed(lines):
        if released and any(link.get("TxnType") == "Invoice" for link in line.get("LinkedTxn") or []):
            taken = min(Decimal(str(line["Amount"])), released)
            line["Amount"], released = Decimal(str(line["Amount"])) - taken, released - taken
    changed.update(
        Line=[line for line in lines if Decimal(str(line["Amount"])) or not line.get("LinkedTxn")],
        SyncToken=str(int(payment["SyncToken"]) + 1),
        MetaData={**payment["MetaData"], "LastUpdatedTime": qbo_time()},
    )
    return changed

"""QuickBooks Online's rules for the entities the sandbox serves: what a create or update may do.

Fault codes follow Intuit's error-code list where it is documented (5010 stale SyncToken, 6240
duplicate name, 6140 duplicate DocNumber, 6070 Amount ≠ Qty × UnitPrice, 610 object not found, 2500
invalid reference). Where Intuit does not document the code, the sandbox uses 2020 for a missing
required field and 2050 for a value too long or malformed (choices, not facts).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from qb_pipeline.sandbox.company import PREFERENCES_ID
from qb_pipeline.sandbox.credit_memos import CreditMemoRules
from qb_pipeline.sandbox.payments import PaymentRules, applied_to, open_amount
from qb_pipeline.sandbox.store import COMPANY_TZ, Store, qbo_time
from qb_pipeline.sandbox.validation import (
    Fault,
    check_name,
    decimal_field,
    not_found,
    reference,
)

CENT = Decimal("0.01")
WRITABLE = {"Customer", "Item", "Invoice", "Payment", "CreditMemo"}
DELETABLE = {"Invoice", "Payment", "CreditMemo"}  # customers and items can only be made inactive
OPEN_ITEMS = {"Invoice", "CreditMemo"}  # what moves a customer's Balance by its own open amount
ITEM_TYPES = {"Service", "NonInventory", "Inventory"}
# Fields the server owns: whatever a client sends for them is ignored.
SERVER_FIELDS = {
    "Id",
    "SyncToken",
    "MetaData",
    "domain",
    "sparse",
    "TotalAmt",
    "Balance",
    "RemainingCredit",
    "FullyQualifiedName",
    "BalanceWithJobs",
    "time",
}
# What QuickBooks fills in on a customer when the client sends nothing for it (Intuit's customer samples).
CUSTOMER_DEFAULTS = {"Job": False, "BillWithParent": False, "Taxable": False, "PreferredDeliveryMethod": "Print"}
NET_30 = timedelta(days=30)  # the sandbox company's default terms (Preferences.SalesFormsPrefs.DefaultTerms "3")


def _clean(body: dict, entity: str) -> dict:
    """Drop what python-quickbooks sends by default but means nothing: "" values and server fields."""
    owned = SERVER_FIELDS - {"TotalAmt"} if entity == "Payment" else SERVER_FIELDS  # a payment's amount is the client's
    return {k: v for k, v in body.items() if k not in owned and v != "" and v is not None}


class Rules(PaymentRules, CreditMemoRules):
    def __init__(self, store: Store) -> None:
        self.store = store
        # "refuse" (QuickBooks' default: 6140) or "allow", as a company whose setting lets duplicates in.
        self.docnumber_duplicates = "refuse"

    def custom_txn_numbers(self, realm: str) -> bool:
        prefs = self.store.get(realm, "Preferences", PREFERENCES_ID) or {}
        return (prefs.get("SalesFormsPrefs") or {}).get("CustomTxnNumbers", True) is not False

    def set_custom_txn_numbers(self, realm: str, enabled: bool) -> None:
        """As a person would in Account and Settings: a change is an update like any other (a new SyncToken
        and LastUpdatedTime, a webhook and CDC event)."""
        prefs = self.store.get(realm, "Preferences", PREFERENCES_ID)
        if self.custom_txn_numbers(realm) == enabled:
            return
        record = {
            **prefs,
            "SalesFormsPrefs": {**prefs["SalesFormsPrefs"], "CustomTxnNumbers": enabled},
            "SyncToken": str(int(prefs["SyncToken"]) + 1),
            "MetaData": {**prefs["MetaData"], "LastUpdatedTime": qbo_time()},
        }
        self.store.put(realm, "Preferences", record)
        self.store.notify(realm, "Preferences", "updated", [record])

    # -- save ------------------------------------------------------------------------------------
    def save(self, realm: str, entity: str, body: dict, *, allow_duplicate_docnum: bool = False) -> dict:
        """Create (no Id) or update (Id + SyncToken; `sparse: true` merges) one record."""
        if entity not in WRITABLE:
            raise Fault("500", "Unsupported Operation", f"{entity} cannot be written", fault_type="SystemFault")
        if body.get("Id") not in (None, ""):
            current = self._current(realm, entity, body["Id"])
            if str(body.get("SyncToken")) != current["SyncToken"]:
                raise Fault(
                    "5010",
                    "Stale Object Error",
                    f"Stale Object Error : You and {current.get('DisplayName') or 'someone'} were working "
                    f"on this at the same time. SyncToken {body.get('SyncToken')} is not {current['SyncToken']}",
                )
            fields = (
                {**{k: v for k, v in current.items() if k not in SERVER_FIELDS}, **_clean(body, entity)}
                if body.get("sparse") in (True, "true")
                else _clean(body, entity)
            )
            record = self._validate(realm, entity, fields, current, allow_duplicate_docnum)
            record.update(
                Id=current["Id"],
                SyncToken=str(int(current["SyncToken"]) + 1),
                MetaData={**current["MetaData"], "LastUpdatedTime": qbo_time()},
            )
        else:
            record = self._validate(realm, entity, _clean(body, entity), None, allow_duplicate_docnum)
            now = qbo_time()
            record.update(
                Id=str(self.store.next_id(realm)), SyncToken="0", MetaData={"CreateTime": now, "LastUpdatedTime": now}
            )
        record["domain"], record["sparse"] = "QBO", False
        previous = self.store.get(realm, entity, int(record["Id"]))
        self.store.put(realm, entity, record)
        if entity in OPEN_ITEMS:
            if previous is not None:
                self._adjust_balance(realm, previous["CustomerRef"]["value"], -open_amount(entity, previous))
            self._adjust_balance(realm, record["CustomerRef"]["value"], open_amount(entity, record))
        if entity == "Payment":
            self.apply_payment_change(realm, previous, record)
        self.store.notify(realm, entity, "updated" if previous else "created", [record])
        return record

    def _current(self, realm: str, entity: str, record_id: object) -> dict:
        record = self.store.get(realm, entity, int(record_id)) if str(record_id).isdigit() else None
        if record is None:
            raise not_found(entity, record_id)
        return record

    def _validate(self, realm, entity, fields, current, allow_duplicate_docnum) -> dict:
        validate = {
            "Customer": self._customer,
            "Item": self._item,
            "Invoice": self._invoice,
            "Payment": self._payment,
            "CreditMemo": self._credit_memo,
        }[entity]
        return validate(realm, fields, current, allow_duplicate_docnum)

    def _unique(self, realm: str, entity: str, field: str, value: str, current: dict | None, code: str) -> None:
        others = self.store.ids_named(realm, entity, value) - ({int(current["Id"])} if current else set())
        if others:
            other_id = min(others)
            raise Fault(
                code,
                "Duplicate Name Exists Error" if code == "6240" else "Duplicate Document Number Error",
                f"The name supplied already exists. : Another {entity} is already using this {field}. Id={other_id}",
                element=field,
            )

    def _customer(self, realm, fields, current, _allow) -> dict:
        if not fields.get("DisplayName"):
            parts = [fields.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
            fields["DisplayName"] = " ".join(p for p in parts if p) or fields.get("CompanyName") or ""
        name = check_name(fields["DisplayName"], "DisplayName", 500, ":\t\n")
        self._unique(realm, "Customer", "DisplayName", name, current, "6240")
        fields["FullyQualifiedName"] = name
        fields["Active"] = fields.get("Active", True) not in (False, "false")
        fields["Balance"] = current.get("Balance", Decimal("0")) if current else Decimal("0")
        fields["BalanceWithJobs"] = fields["Balance"]  # the sandbox has no sub-customers (jobs)
        fields.setdefault("PrintOnCheckName", name)
        for key, value in CUSTOMER_DEFAULTS.items():
            fields.setdefault(key, value)
        for key in ("BillAddr", "ShipAddr"):  # QuickBooks keeps each address as a record with an Id of its own
            address = fields.get(key)
            if isinstance(address, dict) and address and not address.get("Id"):
                fields[key] = {"Id": self._next_address_id(realm), **address}
        return fields

    def _next_address_id(self, realm: str) -> str:
        number = int(self.store.get_meta(f"address_id:{realm}") or 0) + 1
        self.store.set_meta(f"address_id:{realm}", str(number))
        return str(number)

    def _item(self, realm, fields, current, _allow) -> dict:
        name = check_name(fields.get("Name"), "Name", 100, ":\t\n")
        self._unique(realm, "Item", "Name", name, current, "6240")
        item_type = fields.setdefault("Type", "Service")
        if item_type not in ITEM_TYPES:
            raise Fault(
                "2050", "Invalid Enumeration", f"Type {item_type!r} is not one of {sorted(ITEM_TYPES)}", element="Type"
            )
        if item_type in ("Service", "Inventory"):
            if not fields.get("IncomeAccountRef"):
                raise Fault(
                    "2020",
                    "Required param missing, need to supply the required value for the API",
                    "Required parameter IncomeAccountRef is missing in the request",
                    element="IncomeAccountRef",
                )
            account = reference(self.store, realm, "Account", fields["IncomeAccountRef"], "IncomeAccountRef")
            fields["IncomeAccountRef"] = {"value": account["Id"], "name": account["Name"]}
        price = decimal_field(fields.get("UnitPrice"), "UnitPrice")
        fields["UnitPrice"] = price if price is not None else Decimal("0")
        fields["FullyQualifiedName"] = name
        fields["Active"] = fields.get("Active", True) not in (False, "false")
        fields.setdefault("TrackQtyOnHand", item_type == "Inventory")
        return fields

    def _invoice(self, realm, fields, current, allow_duplicate_docnum) -> dict:
        customer = reference(self.store, realm, "Customer", fields.get("CustomerRef"), "CustomerRef")
        fields["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        if not self.custom_txn_numbers(realm):
            # QuickBooks numbers the form itself and ignores what the client sent.
            fields["DocNumber"] = current["DocNumber"] if current else self._next_doc_number(realm)
        if fields.get("DocNumber") is not None:
            allow_duplicate_docnum = allow_duplicate_docnum or self.docnumber_duplicates == "allow"
            self._check_doc_number(realm, str(fields["DocNumber"]), current, allow_duplicate_docnum)
        total, paid = self._sales_lines(realm, "Invoice", fields, current)
        fields["TotalAmt"], fields["Balance"] = total, total - paid
        _fill_in_dates(fields)
        # What QuickBooks fills in on an invoice (Intuit's "create an invoice" sample): a customer who prefers
        # printed forms gets NeedToPrint.
        for key, value in (
            ("PrintStatus", "NeedToPrint" if customer.get("PreferredDeliveryMethod") == "Print" else "NotSet"),
            ("EmailStatus", "NotSet"),
            ("ApplyTaxAfterDiscount", False),
            ("Deposit", Decimal("0")),
            ("TxnTaxDetail", {"TotalTax": Decimal("0")}),
            ("LinkedTxn", []),
        ):
            fields.setdefault(key, value)
        return fields

    def _sales_lines(self, realm: str, kind: str, fields: dict, current: dict | None) -> tuple[Decimal, Decimal]:
        """Check and price an invoice's or credit memo's item lines, append QuickBooks' SubTotalLine:
        (the total, what payments already apply to the record, which the total may not fall below)."""
        lines = [line for line in fields.get("Line") or [] if line.get("DetailType") != "SubTotalLineDetail"]
        if not lines:
            raise Fault(
                "2020",
                "Required param missing, need to supply the required value for the API",
                "Required parameter Line is missing in the request",
                element="Line",
            )
        total = sum((self._invoice_line(realm, line, n) for n, line in enumerate(lines, start=1)), Decimal("0"))
        fields["Line"] = lines + [{"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]
        # What payments already apply stays applied: an update changes the open amount, not the payments.
        applied = applied_to(self.store, realm, kind, current["Id"]) if current else Decimal("0")
        if total < applied:
            raise Fault(
                "6000",
                "A business validation error has occurred",
                f"Payments apply {applied} of this {kind}; its total cannot fall to {total}",
            )
        return total, applied

    def _check_doc_number(self, realm: str, doc_number: str, current: dict | None, allow_duplicate: bool) -> None:
        if len(doc_number) > 21:
            raise Fault(
                "2050",
                "String length is either shorter or longer than supported by specified field",
                f"DocNumber is {len(doc_number)} characters; at most 21 are allowed",
                element="DocNumber",
            )
        if not allow_duplicate:
            self._unique(realm, "Invoice", "DocNumber", doc_number, current, "6140")

    def _next_doc_number(self, realm: str) -> str:
        numbers = [
            int(r["DocNumber"]) for r in self.store.all(realm, "Invoice") if str(r.get("DocNumber", "")).isdigit()
        ]
        return str(max(numbers, default=1000) + 1)

    def _invoice_line(self, realm: str, line: dict, number: int) -> Decimal:
        if line.get("DetailType") != "SalesItemLineDetail":
            raise Fault(
                "2050",
                "Invalid Enumeration",
                f"Line {number}: DetailType {line.get('DetailType')!r} is not supported by the sandbox",
                element="Line.DetailType",
            )
        detail = line.setdefault("SalesItemLineDetail", {})
        item = reference(self.store, realm, "Item", detail.get("ItemRef"), "ItemRef")
        detail["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
        qty = decimal_field(detail.get("Qty"), "Qty")
        price = decimal_field(detail.get("UnitPrice"), "UnitPrice")
        amount = decimal_field(line.get("Amount"), "Amount")
        qty = Decimal("1") if qty is None else qty
        price = item.get("UnitPrice", Decimal("0")) if price is None else price
        expected = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
        if amount is None:
            amount = expected
        elif amount.quantize(CENT) != expected:
            raise Fault(
                "6070",
                "Amount is not equal to UnitPrice * Qty",
                f"Line {number}: Amount {amount} is not equal to UnitPrice {price} * Qty {qty}",
                element="Line.Amount",
            )
        detail["Qty"], detail["UnitPrice"] = qty, price
        detail["TaxCodeRef"] = detail.get("TaxCodeRef") or {"value": "NON"}  # the company charges no sales tax
        line.update(Id=str(number), LineNum=number, Amount=amount.quantize(CENT))
        return amount.quantize(CENT)

    # -- invoice operations ----------------------------------------------------------------------
    def delete(self, realm: str, entity: str, body: dict) -> dict:
        current = self._current(realm, entity, body.get("Id"))
        self._check_token(current, body)
        tombstone = {
            "domain": "QBO",
            "status": "Deleted",
            "Id": current["Id"],
            "MetaData": {"LastUpdatedTime": qbo_time()},
        }
        if entity == "CreditMemo":
            self.remove_credit_memo(realm, current)
        self.store.delete(realm, entity, int(current["Id"]), tombstone)
        if entity == "Payment":
            self.apply_payment_change(realm, current, None)
        elif entity == "Invoice":
            self._adjust_balance(realm, current["CustomerRef"]["value"], -Decimal(str(current["Balance"])))
        self.store.notify(realm, entity, "deleted", [tombstone])
        return {"domain": "QBO", "status": "Deleted", "Id": current["Id"]}

    def void(self, realm: str, entity: str, body: dict) -> dict:
        current = self._current(realm, entity, body.get("Id"))
        self._check_token(current, body)
        if entity == "Payment":
            record = self.void_payment(realm, current)
        elif entity == "CreditMemo":
            record = self.void_credit_memo(realm, current)
        else:
            record = {
                **current,
                "TotalAmt": Decimal("0"),
                "Balance": Decimal("0"),
                "PrivateNote": "Voided",
                "Line": [{**line, "Amount": Decimal("0")} for line in current["Line"]],
                "SyncToken": str(int(current["SyncToken"]) + 1),
                "MetaData": {**current["MetaData"], "LastUpdatedTime": qbo_time()},
            }
            self.store.put(realm, "Invoice", record)
            self._adjust_balance(realm, current["CustomerRef"]["value"], -Decimal(str(current["Balance"])))
        self.store.notify(realm, entity, "voided", [record])
        return record

    @staticmethod
    def _check_token(current: dict, body: dict) -> None:
        if str(body.get("SyncToken")) != current["SyncToken"]:
            raise Fault(
                "5010", "Stale Object Error", f"SyncToken {body.get('SyncToken')} is not {current['SyncToken']}"
            )

    def _adjust_balance(self, realm: str, customer_id: str, delta: Decimal) -> None:
        customer = self.store.get(realm, "Customer", int(customer_id))
        if customer is None or not delta:
            return
        balance = Decimal(str(customer.get("Balance", 0))) + delta
        self.store.put(realm, "Customer", {**customer, "Balance": balance, "BalanceWithJobs": balance})


def _fill_in_dates(invoice: dict) -> None:
    """TxnDate today (in the company's zone) and DueDate net 30 after it, where the client sent none."""
    if not invoice.get("TxnDate"):
        invoice["TxnDate"] = datetime.now(timezone.utc).astimezone(COMPANY_TZ).date().isoformat()
    if not invoice.get("DueDate"):
        try:
            invoice["DueDate"] = (date.fromisoformat(str(invoice["TxnDate"])) + NET_30).isoformat()
        except ValueError:
            pass

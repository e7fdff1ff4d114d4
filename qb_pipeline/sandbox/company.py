"""What every QuickBooks company has beyond its lists: CompanyInfo, Preferences, and the entity names
QuickBooks' query and CDC accept (answered with real rows where the sandbox holds some, else empty).

Shapes follow Intuit's API reference for CompanyInfo and Preferences (the blocks a client reads);
`SalesFormsPrefs.CustomTxnNumbers` is live: when it is off, the sandbox numbers invoices itself and
ignores a supplied DocNumber, as QuickBooks does.
"""

from __future__ import annotations

from copy import deepcopy

# Every entity QuickBooks Online's query endpoint accepts (Intuit's API reference, one page each).
QUERY_ENTITIES = frozenset(
    {
        "Account",
        "Attachable",
        "Bill",
        "BillPayment",
        "Budget",
        "Class",
        "CompanyCurrency",
        "CompanyInfo",
        "CreditCardPayment",
        "CreditMemo",
        "Customer",
        "CustomerType",
        "Department",
        "Deposit",
        "Employee",
        "Estimate",
        "ExchangeRate",
        "Invoice",
        "Item",
        "JournalCode",
        "JournalEntry",
        "Payment",
        "PaymentMethod",
        "Preferences",
        "Purchase",
        "PurchaseOrder",
        "RecurringTransaction",
        "RefundReceipt",
        "ReimburseCharge",
        "SalesReceipt",
        "TaxAgency",
        "TaxClassification",
        "TaxCode",
        "TaxRate",
        "Term",
        "TimeActivity",
        "Transfer",
        "Vendor",
        "VendorCredit",
    }
)
# The 24 entities change data capture covers (Intuit's CDC page; not TimeActivity or the tax lists).
CDC_ENTITIES = frozenset(
    {
        "Account",
        "BillPayment",
        "Bill",
        "Budget",
        "Class",
        "CreditMemo",
        "Customer",
        "Department",
        "Deposit",
        "Employee",
        "Estimate",
        "Invoice",
        "Item",
        "JournalEntry",
        "PaymentMethod",
        "Payment",
        "PurchaseOrder",
        "Purchase",
        "RefundReceipt",
        "SalesReceipt",
        "Term",
        "Transfer",
        "VendorCredit",
        "Vendor",
    }
)
PREFERENCES_ID = 1


def company_info(realm: str, meta: dict, name: str = "Sandbox Company") -> dict:
    """The company's own record; its Id is the realm id, as in QuickBooks."""
    address = {
        "Id": "1",
        "Line1": "123 Sierra Way",
        "City": "San Pablo",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "87999",
        "Country": "US",
    }
    return {
        "Id": realm,
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta,
        "CompanyName": name,
        "LegalName": f"{name} LLC",
        "Country": "US",
        "CompanyAddr": address,
        "LegalAddr": dict(address),
        "CustomerCommunicationAddr": dict(address),
        "PrimaryPhone": {"FreeFormNumber": "(650)944-4444"},
        "Email": {"Address": "noreply@example.com"},
        "WebAddr": {},
        "CompanyStartDate": "2026-01-01",
        "FiscalYearStartMonth": "January",
        "SupportedLanguages": "en",
        "NameValue": [
            {"Name": "NeoEnabled", "Value": "true"},
            {"Name": "IndustryType", "Value": "Landscaping"},
            {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
        ],
    }


def preferences(meta: dict) -> dict:
    return {
        "Id": str(PREFERENCES_ID),
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta,
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "CustomerTerminology": "Customers",
            "FirstMonthOfFiscalYear": "January",
            "TaxYearMonth": "January",
            "UseAccountNumbers": False,
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
            "RevenueRecognition": "Disabled",
        },
        "SalesFormsPrefs": _sales_forms_prefs(),
        "VendorAndPurchasesPrefs": {
            "BillableExpenseTracking": False,
            "TrackingByCustomer": False,
            "POCustomField": _custom_fields_off("PurchasePrefs.UsePurchaseCustom"),
        },
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
        },
        "TaxPrefs": {"UsingSalesTax": False, "PartnerTaxEnabled": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"}]},
        "EmailMessagesPrefs": _email_messages_prefs(),
    }


def _sales_forms_prefs() -> dict:
    return {
        "CustomTxnNumbers": True,
        "AllowDeposit": False,
        "AllowDiscount": True,
        "AllowEstimates": True,
        "AllowServiceDate": False,
        "AllowShipping": False,
        "AutoApplyCredit": True,
        "AutoApplyPayments": True,
        "DefaultTerms": {"value": "3"},
        "EmailCopyToCompany": False,
        "ETransactionEnabledStatus": "NotApplicable",
        "IPNSupportEnabled": False,
        "UsingPriceLevels": False,
        "UsingProgressInvoicing": False,
        "ETransactionAttachPDF": False,
        "ETransactionPaymentEnabled": False,
        "CustomField": _custom_fields_off("SalesFormsPrefs.UseSalesCustom"),
        "DefaultCustomerMessage": "",
    }


def _email_messages_prefs() -> dict:
    """The message QuickBooks offers for each form it emails."""
    return {
        f"{form.replace(' ', '')}Message": {
            "Subject": f"{form} from Sandbox Company",
            "Message": f"Your {form.lower()} is attached.\nThank you for your business.\n\nSandbox Company",
        }
        for form in ("Invoice", "Estimate", "Sales Receipt", "Statement")
    }


def _custom_fields_off(prefix: str) -> list[dict]:
    """A form's three custom fields, all unused, nested as QuickBooks sends them (a list of groups)."""
    return [
        {"CustomField": [{"Name": f"{prefix}{n}", "Type": "BooleanType", "BooleanValue": False} for n in (1, 2, 3)]}
    ]


# Blocks a client may change; the rest of Preferences is read-only through the API.
WRITABLE_BLOCKS = (
    "AccountingInfoPrefs",
    "ProductAndServicesPrefs",
    "SalesFormsPrefs",
    "VendorAndPurchasesPrefs",
    "TimeTrackingPrefs",
    "TaxPrefs",
    "CurrencyPrefs",
    "ReportPrefs",
    "OtherPrefs",
    "EmailMessagesPrefs",
)


def merge_preferences(current: dict, update: dict) -> dict:
    """A sparse update: each block sent is merged field by field; blocks and fields not sent stay."""
    merged = deepcopy(current)
    for block in WRITABLE_BLOCKS:
        sent = update.get(block)
        if isinstance(sent, dict):
            merged[block] = {**merged.get(block, {}), **{k: v for k, v in sent.items() if v is not None and v != ""}}
    return merged

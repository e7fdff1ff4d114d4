"""Translation between QuickBooks JSON (dicts in QBO's wire shape) and the project's rows.

Pure functions: no database, no HTTP. Money goes through Decimal (QBO sends JSON numbers; they are
parsed from their text, never through float arithmetic).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from qb_pipeline.db.types import plain_decimal, to_cents, to_unit_price
from qb_pipeline.sync.invoice_draft import marked_order


def parse_instant(value: str | None) -> datetime | None:
    """A QBO timestamp (`2026-11-01T02:00:00-08:00`, or with Z) as an aware UTC instant."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        # QBO always sends an offset; a bare time would be ambiguous, so refuse to guess.
        raise ValueError(f"QuickBooks timestamp without an offset: {value!r}")
    return parsed.astimezone(timezone.utc)


def money(value: Any) -> Decimal | None:
    """A QBO amount as Decimal rounded to the cent (half up); None for missing or empty values."""
    if value is None or value == "":
        return None
    return to_cents(_decimal(value, "an amount"))


def unit_price(value: Any) -> Decimal | None:
    """A QBO UnitPrice as Decimal at its seven places (rounded half up past them); None when missing."""
    amount = None if value is None or value == "" else _decimal(value, "a unit price")
    return None if amount is None else to_unit_price(amount)


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not {what}: {value!r}") from None


def _ref_value(ref: Any) -> str | None:
    return ref.get("value") if isinstance(ref, dict) and ref.get("value") else None


def _last_updated(record: dict) -> datetime | None:
    return parse_instant((record.get("MetaData") or {}).get("LastUpdatedTime"))


def _of_company(realm_id: str | None) -> dict[str, str]:
    return {} if realm_id is None else {"realm_id": realm_id}


def customer_row(record: dict, realm_id: str | None = None) -> dict[str, Any]:
    """A QBO Customer as the columns `customers` mirrors (with its company's id when given)."""
    return {
        **_of_company(realm_id),
        "qb_id": str(record["Id"]),
        "qb_sync_token": str(record.get("SyncToken", "0")),
        "qb_updated_at": _last_updated(record),
        "display_name": record.get("DisplayName") or "",
        "company_name": record.get("CompanyName") or None,
        "given_name": record.get("GivenName") or None,
        "family_name": record.get("FamilyName") or None,
        "email": (record.get("PrimaryEmailAddr") or {}).get("Address") or None,
        "phone": (record.get("PrimaryPhone") or {}).get("FreeFormNumber") or None,
        "balance": money(record.get("Balance")),
        "active": bool(record.get("Active", True)),
    }


def item_row(record: dict, realm_id: str | None = None) -> dict[str, Any]:
    """A QBO Item as the columns `items` mirrors (with its company's id when given)."""
    return {
        **_of_company(realm_id),
        "qb_id": str(record["Id"]),
        "qb_sync_token": str(record.get("SyncToken", "0")),
        "qb_updated_at": _last_updated(record),
        "name": record.get("Name") or "",
        "sku": record.get("Sku") or None,
        "item_type": record.get("Type") or "Service",
        "description": record.get("Description") or None,
        "unit_price": unit_price(record.get("UnitPrice")),
        "income_account_qb_id": _ref_value(record.get("IncomeAccountRef")),
        "active": bool(record.get("Active", True)),
    }


def customer_payload(row: Any, _default_income_account_id: str | None = None) -> dict[str, Any]:
    """The QBO Customer fields we own, from a local `Customer` row (create or sparse update)."""
    payload: dict[str, Any] = {"DisplayName": row.display_name, "Active": bool(row.active)}
    for field, value in (
        ("CompanyName", row.company_name),
        ("GivenName", row.given_name),
        ("FamilyName", row.family_name),
    ):
        if value:
            payload[field] = value
    if row.email:
        payload["PrimaryEmailAddr"] = {"Address": row.email}
    if row.phone:
        payload["PrimaryPhone"] = {"FreeFormNumber": row.phone}
    return payload


def item_payload(row: Any, default_income_account_id: str | None = None) -> dict[str, Any]:
    """The QBO Item fields we own, from a local `Item` row."""
    payload: dict[str, Any] = {"Name": row.name, "Type": row.item_type or "Service", "Active": bool(row.active)}
    if row.sku:
        payload["Sku"] = row.sku
    if row.description:
        payload["Description"] = row.description
    if row.unit_price is not None:
        payload["UnitPrice"] = plain_decimal(row.unit_price)  # Decimal; the client serializes it
    income_account = row.income_account_qb_id or default_income_account_id
    if income_account:
        payload["IncomeAccountRef"] = {"value": income_account}
    return payload


def invoice_row(record: dict, realm_id: str) -> dict[str, Any]:
    """A QBO Invoice as the columns `qb_invoices` mirrors (amounts kept as strings in `lines`)."""
    lines = [
        {
            "item_qb_id": _ref_value((line.get("SalesItemLineDetail") or {}).get("ItemRef")),
            "qty": str((line.get("SalesItemLineDetail") or {}).get("Qty", "")),
            "unit_price": str((line.get("SalesItemLineDetail") or {}).get("UnitPrice", "")),
            "amount": str(money(line.get("Amount"))),
        }
        for line in record.get("Line") or []
        if line.get("DetailType") == "SalesItemLineDetail"
    ]
    total, balance = money(record.get("TotalAmt")), money(record.get("Balance"))
    return {
        "realm_id": realm_id,
        "qb_id": str(record["Id"]),
        "doc_number": record.get("DocNumber") or None,
        "customer_qb_id": _ref_value(record.get("CustomerRef")),
        "txn_date": record.get("TxnDate") or None,
        "due_date": record.get("DueDate") or None,
        "total_amt": total,
        "balance": balance,
        "status": "paid" if balance == 0 and total else "open",
        "qb_sync_token": str(record.get("SyncToken", "0")),
        "qb_updated_at": _last_updated(record),
        "qb_created_at": parse_instant((record.get("MetaData") or {}).get("CreateTime")),
        "marked_order": None if (marked := marked_order(record)) is None else marked[:64],  # None: not ours
        "lines": lines,
    }


def voided(record: dict) -> bool:
    """QuickBooks keeps a voided transaction with zero amounts and a 'Voided' note."""
    return str(record.get("PrivateNote", "")).startswith("Voided") and not money(record.get("TotalAmt"))


def _receivable(record: dict, realm_id: str, open_amount: Decimal | None) -> dict[str, Any]:
    """What a payment and a credit memo share as rows; status open while `open_amount` is left to apply."""
    return {
        "realm_id": realm_id,
        "qb_id": str(record["Id"]),
        "customer_qb_id": _ref_value(record.get("CustomerRef")),
        "txn_date": record.get("TxnDate") or None,
        "total_amt": money(record.get("TotalAmt")),
        "currency": _ref_value(record.get("CurrencyRef")),
        "status": "voided" if voided(record) else "open" if open_amount else "applied",
        "set_apart": None,
        "qb_sync_token": str(record.get("SyncToken", "0")),
        "qb_updated_at": _last_updated(record),
    }


def payment_row(record: dict, realm_id: str) -> dict[str, Any]:
    """A QBO Payment as the columns `qb_payments` mirrors, and under `applications` the rows of
    `qb_payment_lines`: each line's LinkedTxn (the invoices it pays, the credit memos it takes credit from)."""
    unapplied = money(record.get("UnappliedAmt"))
    return {
        **_receivable(record, realm_id, unapplied),
        "unapplied_amt": unapplied,
        "applications": [
            {
                "realm_id": realm_id,
                "payment_qb_id": str(record["Id"]),
                "line_number": number,
                "kind": str(link.get("TxnType")),
                "linked_qb_id": str(link["TxnId"]),
                "amount": money(line.get("Amount")) or Decimal("0"),
            }
            for number, line in enumerate(record.get("Line") or [], start=1)
            for link in line.get("LinkedTxn") or []
            if link.get("TxnId") is not None
        ],
    }


def credit_memo_row(record: dict, realm_id: str) -> dict[str, Any]:
    """A QBO CreditMemo as the columns `qb_credit_memos` mirrors."""
    remaining = money(record.get("RemainingCredit"))
    return {
        **_receivable(record, realm_id, remaining),
        "doc_number": record.get("DocNumber") or None,
        "remaining_credit": remaining,
        "balance": money(record.get("Balance")),
    }

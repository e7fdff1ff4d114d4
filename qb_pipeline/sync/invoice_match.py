"""When an invoice QuickBooks has is an order's own: the strict_link safeguard of `sync/invoices.py`."""

from __future__ import annotations

from decimal import Decimal

from qb_pipeline.sync.invoice_draft import marked_order


class StrictLink:
    """An invoice found by number is the order's only when customer, total, number of lines and marker
    match; an invoice another order holds is never linked again (a unique constraint backs this)."""

    def mismatch(self, body: dict, record: dict) -> str | None:
        """Why an invoice found by number is not this order's, or None when it is."""
        ours, theirs = str(body["CustomerRef"]["value"]), str((record.get("CustomerRef") or {}).get("value"))
        if ours != theirs:
            return f"it bills customer {theirs}, the order customer {ours}"
        return "; ".join(self.differences(body, record)) or None

    def differences(self, body: dict, record: dict) -> list[str]:
        """Beyond the customer: total, number of lines and the marker every invoice we create carries."""
        problems = []
        total = sum((Decimal(str(line["Amount"])) for line in body["Line"]), Decimal("0"))
        if Decimal(str(record.get("TotalAmt", "0"))) != total:
            problems.append(f"its total is {record.get('TotalAmt')}, the order's {total}")
        lines = [line for line in record.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]
        if len(lines) != len(body["Line"]):
            problems.append(f"its number of lines is {len(lines)}, the order's {len(body['Line'])}")
        marked = marked_order(record)
        if marked is None:
            # every invoice we create carries the marker: one without it was typed in QuickBooks
            problems.append("it has no `qb_pipeline order` note, so it was not created for this order")
        elif marked != body["DocNumber"]:
            problems.append(f"it is marked as the invoice of order {marked!r}")
        return problems

    def may_link(self, holder: int | None, order_id: int) -> bool:
        """Whether an invoice that order `holder` holds (None: no order) may be linked to `order_id`."""
        return holder in (None, order_id)

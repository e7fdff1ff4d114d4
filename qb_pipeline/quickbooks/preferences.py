"""The company's preferences, read once per gateway (one asset or check of a run): whether QuickBooks
keeps the DocNumber we send, which version of the preferences said so, and the company's time zone."""

from __future__ import annotations

from datetime import tzinfo

from qb_pipeline.core.company_zone import company_zone
from qb_pipeline.core.port import InvoiceNumbering
from qb_pipeline.quickbooks.retry import QuickBooksCalls


class CompanyPreferences:
    def __init__(self, calls: QuickBooksCalls, configured_timezone: str) -> None:
        self.calls = calls
        self.configured_timezone = configured_timezone  # QB_COMPANY_TIMEZONE (an IANA name), or "" for the default
        self._read: tuple[InvoiceNumbering, tzinfo] | None = None
        self._home_currency: str | None = None

    def numbering(self, *, fresh: bool = False) -> InvoiceNumbering:
        """Preferences.SalesFormsPrefs.CustomTxnNumbers and the preferences' SyncToken; `fresh` reads
        them again instead of this gateway's copy."""
        if fresh:
            self._read = None
        return self._preferences()[0]

    def zone(self) -> tzinfo:
        """The company's IANA zone (core/company_zone.py), checked against the offset of the preferences
        answer's `time`; a disagreement is reported through `progress` once per read."""
        return self._preferences()[1]

    def home_currency(self) -> str | None:
        """CurrencyPrefs.HomeCurrency: the code of the company's own currency (None: QuickBooks names none)."""
        self._preferences()
        return self._home_currency

    def _preferences(self) -> tuple[InvoiceNumbering, tzinfo]:
        if self._read is None:
            answer = self.calls.call(
                "read",
                "reading the company's preferences",
                lambda qb: qb.get(f"{qb.api_url}/company/{qb.company_id}/preferences", {}),
                expect="Preferences",
            )
            sales = answer["Preferences"].get("SalesFormsPrefs") or {}
            home = (answer["Preferences"].get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
            self._home_currency = home.get("value") or None
            zone = company_zone(self.configured_timezone, answer.get("time"))
            if zone.warning:
                self.calls.progress(f"time zone: {zone.warning}")
            numbering = InvoiceNumbering(
                keeps_ours=sales.get("CustomTxnNumbers") is True, version=str(answer["Preferences"].get("SyncToken"))
            )
            self._read = (numbering, zone.zone)
            connection = self.calls.connection
            connection.tokens.record_preferences(connection.realm_id, keeps_invoice_numbers=numbering.keeps_ours)
        return self._read

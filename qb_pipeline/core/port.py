"""What the sync rules need from QuickBooks, in QBO's JSON shape (dicts), and nothing more.

`qb_pipeline.quickbooks` implements it against the real API (python-quickbooks, throttled, retried);
the sync functions take it as an argument, so they run the same in an asset, the CLI or a test. What it
raises is in `core/errors.py`. Neither side imports the other: both import this.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Protocol


@dataclass(frozen=True)
class ChangeSet:
    """What CDC reported for one entity since an instant."""

    changed: list[dict] = field(default_factory=list)  # full records, active and inactive
    deleted_ids: list[str] = field(default_factory=list)  # tombstones (invoices; names lists are never deleted)
    truncated: bool = False  # QBO's 1000-object cap was hit: the caller must page instead
    # When the CDC call that answered was sent: what a pull may mark covered (an answer shared by the
    # assets of a run was asked for by the first of them). None: just now.
    as_of: datetime | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """One record of a batch write: the saved record, or QBO's refusal."""

    key: str  # the caller's key for the record (order id, local row id…)
    record: dict | None = None
    error_code: str | None = None  # QBO fault code, e.g. "6240", "6140", "5010"
    error_message: str | None = None  # QBO's message and detail, safe to show a person
    transient: bool = False  # throttled / unavailable after retries: try again later, the record may exist

    @property
    def ok(self) -> bool:
        return self.record is not None


@dataclass(frozen=True)
class InvoiceNumbering:
    """Whether the company keeps the DocNumber we send, and which version of its preferences said so."""

    keeps_ours: bool  # Preferences.SalesFormsPrefs.CustomTxnNumbers
    version: str  # the Preferences' SyncToken: QuickBooks moves it on every change to them


class QuickBooksPort(Protocol):
    realm_id: str
    # How long QuickBooks may go on with a request we stopped waiting for (its 120 s, plus the way there).
    request_limit_seconds: float
    batch_size: int  # records per batch call (QB_BATCH_SIZE, at most QuickBooks' 30)

    def query_pages(self, entity: str, *, updated_since: datetime | None = None) -> Iterator[list[dict]]:
        """Every record (inactive ones too), or those updated at or after `updated_since`, a page
        (≤1000) at a time, until the last page."""

    def changes_since(
        self, entity: str, since: datetime, *, together_with: Mapping[str, datetime] | None = None
    ) -> ChangeSet:
        """CDC for one entity since `since` (which must be within QBO's 30-day window); `together_with`:
        other entities due soon (each since its own instant), asked in the same call and kept for them."""

    def create_many(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        """Create records (key, body) in batches of ≤30; per-record outcomes in input order."""

    def update_many(self, entity: str, records: Sequence[tuple[str, dict]]) -> list[WriteOutcome]:
        """Sparse updates (body carries Id and SyncToken); a stale SyncToken is re-read and retried once."""

    def find_by_name(self, entity: str, name: str) -> dict | None:
        """The Customer (DisplayName) or Item (Name) with this name, active or not."""

    def find_invoices(self, doc_numbers: Sequence[str]) -> dict[str, list[dict]]:
        """Existing invoices by DocNumber, every one that carries it (a company may allow duplicates)."""

    def send_batch(self, entity: str, items: Sequence[tuple[str, str, dict]], request_id: str) -> list[WriteOutcome]:
        """Creates (key, bId, body) in one batch with `request_id`, sent once: raises
        QuickBooksOutcomeUnknown when QuickBooks may have applied it without our knowing."""

    def existing_ids(self, entity: str, ids: Sequence[str]) -> set[str]:
        """Which of these ids QuickBooks still has (deleted records are not returned)."""

    def company_timezone(self) -> tzinfo:
        """The company's offset from UTC (invoice dates are the company's calendar dates)."""

    def company_currency(self) -> str | None:
        """The code of the company's own currency (Preferences.CurrencyPrefs.HomeCurrency)."""

    def custom_txn_numbers(self) -> bool:
        """Whether the company keeps the DocNumber we send (Preferences.SalesFormsPrefs.CustomTxnNumbers)."""

    def invoice_numbering(self, *, fresh: bool = False) -> InvoiceNumbering:
        """The numbering preference and its version; `fresh` reads it again instead of this run's copy."""

    def default_income_account_id(self) -> str | None:
        """QuickBooks' first Income account: where a new Service item's sales go when none is configured."""

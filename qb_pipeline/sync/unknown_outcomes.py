"""When a batch of invoices whose outcome is unknown may be looked up and sent again.

Two rules, each a safeguard of `sync/invoices.py`:
- settle: QuickBooks may go on with a request we stopped waiting for until its request limit
  (`QuickBooksPort.request_limit_seconds`) after we sent it or gave up on it. A lookup before then can
  miss an invoice that is still being created, so nothing is looked up or sent again until then: a
  short wait is waited out in the run, a longer one sends the orders back to wait, with a reason.
- numbering_check (again, before any resend): the lookup finds an invoice by the DocNumber we sent,
  which QuickBooks keeps only while Custom transaction numbers is on. If the company's preferences
  changed since the send (their SyncToken moved), QuickBooks may have numbered the invoice itself:
  out of the lookup's reach, so the order waits for a person instead of being sent blindly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from qb_pipeline.core.errors import QuickBooksSetupError
from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_outcomes import OutcomeRecorder

SETTLE_IN_RUN = 15.0  # seconds a run waits for QuickBooks to finish a request; longer, the orders wait outside
CUSTOM_NUMBERS_OFF = (
    "QuickBooks numbers invoices itself in this company, so an order's number cannot find its "
    "invoice: turn on Account and Settings → Sales → Custom transaction numbers in QuickBooks; "
    "orders stay pending until then"
)


@dataclass
class Batch:
    """One batch on the wire: its requestid, its write-ahead record, order id → (bId, body), and, while
    its outcome is unknown, when it was last sent or given up on and under which preferences."""

    request_id: str
    record_id: int | None
    items: dict[int, tuple[str, dict]]
    unknown_at: datetime | None = None
    preferences_version: str | None = None

    def note_unanswered(self, unknown_at: datetime | None, version: str | None) -> None:
        """One order of the batch, as its database row remembers it: the batch counts from the latest time
        any of them went unanswered, and under preferences none of them contradicts (orders sent under
        different preferences cannot all be trusted: the batch then counts as sent under changed ones)."""
        if unknown_at is not None and (self.unknown_at is None or unknown_at > self.unknown_at):
            self.unknown_at = unknown_at
        if self.preferences_version is None:
            self.preferences_version = version
        elif version not in (None, self.preferences_version):
            self.preferences_version = "(several)"


def settles_at(unknown_at: datetime, qb: QuickBooksPort) -> datetime:
    return unknown_at + timedelta(seconds=qb.request_limit_seconds)


class UnknownOutcomes(OutcomeRecorder):
    """The rules above, for an invoice push (`_InvoicePush` in sync/invoices.py)."""

    qb: QuickBooksPort
    settle_in_run: float = SETTLE_IN_RUN
    preferences_version: str | None = None  # the version this run last found numbering on under

    def note_sending(self, batch: Batch) -> None:
        """The batch goes out now, under the preferences this run last read (in memory; see below)."""
        batch.unknown_at, batch.preferences_version = utcnow(), self.preferences_version

    def stamp_unanswered(self, batch: Batch) -> None:
        """Before a send, and when we stop waiting for its answer: QuickBooks may apply it until its
        request limit after now. Committed before the send, so a run that dies leaves it too."""
        self.note_sending(batch)
        with session_scope(self.engine) as session:
            queries.mark_unanswered(
                session, batch.items, at=batch.unknown_at, preferences_version=batch.preferences_version
            )

    def hold_back(self, batch: Batch, *, pause: float = 0.0) -> bool:
        """Before looking a batch with an unknown outcome up and sending it again: True when it must not
        be (its orders' outcomes are recorded here); otherwise after waiting out `pause` and the rest of
        QuickBooks' request limit."""
        if self.safeguards.settle and batch.unknown_at is not None:
            left = (settles_at(batch.unknown_at, self.qb) - utcnow()).total_seconds()
            if left > self.settle_in_run:
                self.wait_for_quickbooks(batch)
                return True
            pause = max(pause, left)
        if pause > 0:
            time.sleep(pause)
        if self.safeguards.numbering_check and batch.unknown_at is not None:
            numbering = self.qb.invoice_numbering(fresh=True)
            changed = batch.preferences_version not in (None, numbering.version) or not numbering.keeps_ours
            if changed:
                self.fail_numbering_changed(batch)
                if not numbering.keeps_ours:
                    raise QuickBooksSetupError(CUSTOM_NUMBERS_OFF)  # nothing more is sent in this run
                self.preferences_version = numbering.version
                return True
        return False

    def wait_for_quickbooks(self, batch: Batch) -> None:
        due = settles_at(batch.unknown_at, self.qb)
        self.progress(
            f"invoice batch {batch.request_id} ({len(batch.items)} orders): QuickBooks may still be applying it "
            f"until {due:%H:%M:%S} UTC; its orders are looked up then"
        )
        self.fail_for_now(
            batch.items,
            "QuickBooks has not said whether it created the invoice and may still be working on the request "
            f"until {due:%Y-%m-%d %H:%M:%S} UTC (QB_REQUEST_LIMIT_SECONDS after it was sent): the order waits "
            "until then, is looked up by its number, and is sent again only if QuickBooks has no invoice for it",
            not_before=due,
        )

    def fail_numbering_changed(self, batch: Batch) -> None:
        self.progress(
            f"invoice batch {batch.request_id} ({len(batch.items)} orders): the company's preferences changed "
            "while its outcome was unknown; its orders wait for a person"
        )
        with session_scope(self.engine) as session:
            for order_id in batch.items:
                number = batch.items[order_id][1]["DocNumber"]
                self.finish_refused(
                    session,
                    order_id,
                    "the company's preferences in QuickBooks (Custom transaction numbers among them) changed while "
                    "QuickBooks had not said whether it created this order's invoice, so it may have created it "
                    f"under a number of its own, which a lookup by {number!r} cannot find. Look in QuickBooks for an "
                    f"invoice whose private note starts 'qb_pipeline order {number}': if there is one, give it "
                    f"number {number} and run `qb-pipeline orders retry {number}` to link it; if there is none, "
                    f"`orders retry {number}` sends it",
                    batch_answered=False,
                )

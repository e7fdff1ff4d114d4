"""When a batch of invoices whose outcome is unknown may be looked up and sent again.

Two rules, each a safeguard of `sync/invoices.py` and a part of the push it can be handed (`Safeguards`):
- settle: QuickBooks may go on with a request we stopped waiting for until its request limit
  (`QuickBooksPort.request_limit_seconds`) after we sent it or gave up on it. A lookup before then can
  miss an invoice that is still being created, so nothing is looked up or sent again until then: a
  short wait is waited out in the run, a longer one sends the orders back to wait, with a reason.
- numbering_check (before the first claim, and again before any resend): the lookup finds an invoice by the DocNumber we sent,
  which QuickBooks keeps only while Custom transaction numbers is on. If the company's preferences
  changed since the send (their SyncToken moved), QuickBooks may have numbered the invoice itself:
  out of the lookup's reach, so the order waits for a person instead of being sent blindly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from qb_pipeline.core.errors import QuickBooksSetupError
from qb_pipeline.core.port import InvoiceNumbering, QuickBooksPort
from qb_pipeline.db import queries
from qb_pipeline.db.session import session_scope
from qb_pipeline.db.types import utcnow
from qb_pipeline.sync.invoice_outcomes import OutcomeRecorder, PushRun

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


def note_sending(run: PushRun, batch: Batch) -> None:
    """The batch goes out now, under the preferences this run last read (in memory; see below)."""
    batch.unknown_at, batch.preferences_version = utcnow(), run.preferences_version


def stamp_unanswered(run: PushRun, batch: Batch) -> None:
    """Before a send, and when we stop waiting for its answer: QuickBooks may apply it until its
    request limit after now. Committed before the send, so a run that dies leaves it too."""
    note_sending(run, batch)
    with session_scope(run.engine) as session:
        queries.mark_unanswered(
            session, batch.items, at=batch.unknown_at, preferences_version=batch.preferences_version
        )


class Settle:
    """The settle rule: a batch is looked up and sent again only once QuickBooks is done with it."""

    def __init__(self, run: PushRun, recorder: OutcomeRecorder, settle_in_run: float = SETTLE_IN_RUN) -> None:
        self.run, self.recorder, self.settle_in_run = run, recorder, settle_in_run

    def wait_needed(self, batch: Batch, pause: float) -> float | None:
        """How long to wait before the batch may be looked up (at least `pause`), or None when that is
        longer than a run waits: its orders are then sent back to wait (recorded here)."""
        if batch.unknown_at is None:
            return pause
        left = (settles_at(batch.unknown_at, self.run.qb) - utcnow()).total_seconds()
        if left > self.settle_in_run:
            self.send_back_to_wait(batch)
            return None
        return max(pause, left)

    def send_back_to_wait(self, batch: Batch) -> None:
        due = settles_at(batch.unknown_at, self.run.qb)
        self.run.progress(
            f"invoice batch {batch.request_id} ({len(batch.items)} orders): QuickBooks may still be applying it "
            f"until {due:%H:%M:%S} UTC; its orders are looked up then"
        )
        self.recorder.fail_for_now(
            batch.items,
            "QuickBooks has not said whether it created the invoice and may still be working on the request "
            f"until {due:%Y-%m-%d %H:%M:%S} UTC (QB_REQUEST_LIMIT_SECONDS after it was sent): the order waits "
            "until then, is looked up by its number, and is sent again only if QuickBooks has no invoice for it",
            not_before=due,
        )


class NumberingCheck:
    """The numbering check: nothing is pushed unless the company keeps our DocNumbers, and a batch sent
    while its preferences may have changed waits for a person."""

    def __init__(self, run: PushRun, recorder: OutcomeRecorder) -> None:
        self.run, self.recorder = run, recorder

    def require_ours(self, numbering: InvoiceNumbering) -> None:
        if not numbering.keeps_ours:
            raise QuickBooksSetupError(CUSTOM_NUMBERS_OFF)

    def changed_since_sent(self, batch: Batch) -> bool:
        """Read the preferences again before a resend: True when they changed since the batch was sent
        (its orders are then left for a person, recorded here)."""
        if batch.unknown_at is None:
            return False
        numbering = self.run.qb.invoice_numbering(fresh=True)
        if batch.preferences_version in (None, numbering.version) and numbering.keeps_ours:
            return False
        self.leave_for_a_person(batch)
        self.require_ours(numbering)  # off: nothing more is sent in this run
        self.run.preferences_version = numbering.version
        return True

    def leave_for_a_person(self, batch: Batch) -> None:
        self.run.progress(
            f"invoice batch {batch.request_id} ({len(batch.items)} orders): the company's preferences changed "
            "while its outcome was unknown; its orders wait for a person"
        )
        with session_scope(self.run.engine) as session:
            for order_id in batch.items:
                number = batch.items[order_id][1]["DocNumber"]
                self.recorder.finish_refused(
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


class UnknownOutcomes:
    """Both rules, before a batch whose outcome is unknown is looked up and sent again."""

    def __init__(self, settle: Settle, numbering: NumberingCheck) -> None:
        self.settle, self.numbering = settle, numbering

    def hold_back(self, batch: Batch, *, pause: float = 0.0) -> bool:
        """True when the batch must not be looked up and sent again (its orders' outcomes are recorded
        by the rule that held it); otherwise after waiting out `pause` and the rest of QuickBooks'
        request limit."""
        wait = self.settle.wait_needed(batch, pause)
        if wait is None:
            return True
        if wait > 0:
            time.sleep(wait)
        return self.numbering.changed_since_sent(batch)

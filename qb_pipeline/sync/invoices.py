"""Orders → QuickBooks invoices: at most one invoice per order in any QuickBooks company; no order lost.

Independent safeguards, each carried by a part of the push (`Safeguards`, chosen once as a push starts)
and each shown to hold alone by a test that hands the push the others' absence (README "One order, at
most one invoice"; qb_pipeline_tests/sync/without_safeguards.py):
1. write_ahead (sync/invoice_write_ahead.py) — a batch is recorded (orders, exact body, a requestid)
   before it is sent, and any resend of those orders re-sends that body with that requestid first, so
   QuickBooks can answer with its first result. The gateway never re-sends a write whose outcome is
   unknown; sync/invoice_send.py decides.
2. lookup (sync/invoice_linking.py) — before any resend whose outcome is unknown, and for an order an
   earlier attempt may have sent, one `DocNumber IN (…)` query: an invoice it lists is the outcome.
3. numbering_check (sync/unknown_outcomes.py) — nothing is pushed unless the company keeps the
   DocNumbers we send (Preferences.SalesFormsPrefs.CustomTxnNumbers); before any resend whose outcome is
   unknown the preferences are read again, and a batch sent while they may have changed waits for a
   person.
4. strict_link (sync/invoice_match.py) — an invoice is linked to an order only when customer, total,
   line count and marker match, and never to a second order (a unique constraint backs this).
5. heartbeat (sync/invoice_claims.py) — a run renews its claims every tenth of the stale period and
   sends only orders it still holds right before sending; a claim is taken over only once its heartbeat
   has been silent for the stale period.
6. settle (sync/unknown_outcomes.py) — a batch whose outcome is unknown is neither looked up nor sent
   again until QuickBooks is done with it (`QB_REQUEST_LIMIT_SECONDS` after it was last sent or given
   up on): a lookup before then can miss an invoice QuickBooks is still creating.
Every invoice names its order in PrivateNote, so invoices per order can be counted without us.
QuickBooks' own refusal of a second DocNumber (6140, a company setting) is answered by linking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from qb_pipeline.core import defaults
from qb_pipeline.core.port import QuickBooksPort
from qb_pipeline.sync.companies import adopt_for
from qb_pipeline.sync.invoice_claims import (
    STALE_CLAIM_AFTER,
    Heartbeat,
    claim_due_orders,
    orders_to_push,
    release_claims,
)
from qb_pipeline.sync.invoice_linking import Linker, Lookup, link_earlier_attempts
from qb_pipeline.sync.invoice_match import StrictLink
from qb_pipeline.sync.invoice_outcomes import InvoicePushResult, OutcomeRecorder, PushRun
from qb_pipeline.sync.invoice_resend import Resend
from qb_pipeline.sync.invoice_send import BatchSender
from qb_pipeline.sync.invoice_write_ahead import WriteAhead
from qb_pipeline.sync.push_drafts import PushDrafts
from qb_pipeline.sync.unknown_outcomes import (
    CUSTOM_NUMBERS_OFF,
    SETTLE_IN_RUN,
    NumberingCheck,
    Settle,
    UnknownOutcomes,
)

__all__ = ["CUSTOM_NUMBERS_OFF", "STALE_CLAIM_AFTER", "InvoicePushResult", "Safeguards", "push_orders"]


@dataclass(frozen=True)
class Safeguards:
    """The protections behind "one order, at most one invoice", each the part of the push that carries
    it. Always these; a proof test hands the push a set in which some are replaced by their absence."""

    write_ahead: type[WriteAhead] = WriteAhead
    lookup: type[Lookup] = Lookup
    numbering_check: type[NumberingCheck] = NumberingCheck
    settle: type[Settle] = Settle
    strict_link: type[StrictLink] = StrictLink
    heartbeat: type[Heartbeat] = Heartbeat


def push_orders(
    qb: QuickBooksPort,
    engine: sa.Engine,
    run_id: str,
    *,
    limit: int = defaults.ORDERS_PER_RUN,
    stale_after: timedelta = STALE_CLAIM_AFTER,
    default_income_account_id: str | None = None,
    progress: Callable[[str], None] = lambda _message: None,
    safeguards: Safeguards = Safeguards(),
    resend_wait: float = 2.0,
    settle_in_run: float = SETTLE_IN_RUN,
) -> InvoicePushResult:
    """Claim due orders and turn them into invoices, `qb.batch_size` (QB_BATCH_SIZE) to a batch.
    `resend_wait`: the pause before the n-th resend of a batch whose outcome is unknown (n × it);
    `settle_in_run`: how long a run waits for QuickBooks to be done with such a batch before its orders
    are sent back to wait (see `sync/unknown_outcomes.py`)."""
    adopt_for(engine, qb.realm_id, progress)  # orders naming no company are this one's if it is the only one
    if not orders_to_push(engine, realm_id=qb.realm_id, stale_after=stale_after):
        return InvoicePushResult()
    numbering = qb.invoice_numbering()
    run = PushRun(qb, engine, run_id, InvoicePushResult(), progress, preferences_version=numbering.version)
    push = _InvoicePush(run, safeguards, stale_after, resend_wait, settle_in_run)
    push.numbering.require_ours(numbering)  # before any claim: every order stays pending
    order_ids, taken_over = claim_due_orders(run, limit=limit, stale_after=stale_after)
    if not order_ids:
        return run.result
    try:
        push.resend_recorded(order_ids)
        push.create(order_ids, taken_over, default_income_account_id)
    finally:
        release_claims(run)
    return run.result


class _InvoicePush:
    """The parts of one push, each chosen once from `safeguards`."""

    def __init__(
        self, run: PushRun, safeguards: Safeguards, stale_after: timedelta, resend_wait: float, settle_in_run: float
    ) -> None:
        self.run = run
        self.heartbeat = safeguards.heartbeat(run, stale_after)
        self.recorder = OutcomeRecorder(run, safeguards.strict_link())
        self.linker = Linker(run, self.recorder)
        self.lookup = safeguards.lookup(self.linker)
        self.numbering = safeguards.numbering_check(run, self.recorder)
        self.unknown = UnknownOutcomes(safeguards.settle(run, self.recorder, settle_in_run), self.numbering)
        write_ahead = safeguards.write_ahead(run)
        self.resend = Resend(run, self.unknown, self.heartbeat, self.lookup, write_ahead, resend_wait)
        self.sender = BatchSender(run, self.recorder, self.linker, self.heartbeat, write_ahead, self.resend)
        self.drafting = PushDrafts(run, self.recorder, self.heartbeat)

    def resend_recorded(self, order_ids: list[int]) -> None:
        """Batches an earlier attempt recorded and sent without learning their outcome go first."""
        for batch in self.resend.recorded_batches(order_ids):
            self.sender.send(batch, recheck_first=True)

    def create(self, order_ids: list[int], taken_over: set[int], default_income_account_id: str | None) -> None:
        """The other orders: drafted, linked when an earlier attempt's invoice is found, prerequisites
        created, then sent in new batches."""
        drafts, maybe_sent = self.drafting.draft_all(order_ids, taken_over)
        link_earlier_attempts(drafts, maybe_sent, self.unknown, self.lookup)
        drafts = self.drafting.ensure_prerequisites(drafts, default_income_account_id)
        self.sender.create(drafts, self.run.qb.batch_size)

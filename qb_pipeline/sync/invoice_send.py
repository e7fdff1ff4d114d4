"""Invoices sent to QuickBooks a batch at a time, and what QuickBooks answered recorded per order.

A batch goes once. While its outcome stays unknown it goes again, at most `RESENDS` times in a run, only
once `sync/invoice_resend.py` has made it ready (the same requestid, after a lookup); then its orders
wait for a later run. QuickBooks' refusal of a second DocNumber (6140) is answered by linking.
"""

from __future__ import annotations

from qb_pipeline.core.errors import QuickBooksAuthError, QuickBooksError, QuickBooksOutcomeUnknown
from qb_pipeline.core.port import WriteOutcome
from qb_pipeline.db.session import session_scope
from qb_pipeline.sync.invoice_claims import Heartbeat
from qb_pipeline.sync.invoice_draft import InvoiceDraft
from qb_pipeline.sync.invoice_linking import Linker
from qb_pipeline.sync.invoice_outcomes import OutcomeRecorder, PushRun, mirror_invoice_rows
from qb_pipeline.sync.invoice_resend import Resend
from qb_pipeline.sync.invoice_write_ahead import WriteAhead
from qb_pipeline.sync.unknown_outcomes import Batch, stamp_unanswered

RESENDS = 3  # re-sends of one batch whose outcome stayed unknown, within one run
DUPLICATE_DOC_NUMBER = "6140"


class BatchSender:
    def __init__(
        self,
        run: PushRun,
        recorder: OutcomeRecorder,
        linker: Linker,
        heartbeat: Heartbeat,
        write_ahead: WriteAhead,
        resend: Resend,
    ) -> None:
        self.run, self.recorder, self.linker, self.heartbeat = run, recorder, linker, heartbeat
        self.write_ahead, self.resend = write_ahead, resend

    def create(self, drafts: dict[int, InvoiceDraft], batch_size: int) -> None:
        """New invoices, `batch_size` to a batch, each batch recorded before it is sent."""
        pending = sorted(drafts)
        for start in range(0, len(pending), batch_size):
            chunk = self.heartbeat.still_ours(pending[start : start + batch_size])  # right before sending
            if chunk:
                self.send(self.write_ahead.record({i: drafts[i].payload() for i in sorted(chunk)}))
        if pending:
            result = self.run.result
            self.run.progress(
                f"invoices: {result.pushed} created, {result.linked} linked, "
                f"{result.failed} failed, {result.blocked} blocked"
            )

    def send(self, batch: Batch, *, recheck_first: bool = False) -> None:
        """Send once; while the outcome stays unknown: wait until QuickBooks is done with it, look up,
        re-send the rest with the same requestid."""
        unknown: QuickBooksOutcomeUnknown | None = None
        for attempt in range(RESENDS + 1):
            if (recheck_first or attempt) and not self.resend.ready(batch, attempt):
                return
            try:
                outcomes = self.run.qb.send_batch(
                    "Invoice", [(str(i), bid, body) for i, (bid, body) in batch.items.items()], batch.request_id
                )
            except QuickBooksOutcomeUnknown as error:
                stamp_unanswered(self.run, batch)  # QuickBooks may apply it until its limit after now
                unknown = error
                self._say_unknown(batch, error, attempt)
                continue
            except QuickBooksAuthError:
                raise  # every later call would fail too: stop; the orders go back to pending
            except QuickBooksError as error:  # throttled past the retry budget: not taken this time
                self.recorder.fail_for_now(
                    batch.items, f"QuickBooks did not take the invoice this time ({error}); it is retried automatically"
                )
                return
            self.record_outcomes(batch, outcomes)
            return
        self.recorder.fail_for_now(
            batch.items,
            f"QuickBooks did not say whether it took the invoice (gave up after "
            f"{RESENDS + 1} tries: {unknown}); it is looked up and re-sent with the same "
            "request id automatically",
        )

    def _say_unknown(self, batch: Batch, error: QuickBooksOutcomeUnknown, attempt: int) -> None:
        if attempt < RESENDS:
            self.run.progress(
                f"invoice batch {batch.request_id}: {error}; retry {attempt + 1}/{RESENDS} after a "
                "lookup, with the same request id"
            )

    def record_outcomes(self, batch: Batch, outcomes: list[WriteOutcome]) -> None:
        bodies = {i: body for i, (_bid, body) in batch.items.items()}
        refused_as_duplicate = [
            bodies[int(o.key)]["DocNumber"] for o in outcomes if o.error_code == DUPLICATE_DOC_NUMBER
        ]
        existing = self.run.qb.find_invoices(refused_as_duplicate) if refused_as_duplicate else {}
        with session_scope(self.run.engine) as session:
            mirrored: dict[str, dict] = {}
            self.recorder.finish_synced_many(session, [(int(o.key), o.record) for o in outcomes if o.ok], mirrored)
            for outcome in outcomes:
                order_id = int(outcome.key)
                found = existing.get(bodies[order_id]["DocNumber"])
                if outcome.ok:
                    continue
                elif outcome.error_code == DUPLICATE_DOC_NUMBER and found:
                    self.linker.link_or_fail(session, order_id, bodies[order_id], found, mirrored)
                else:
                    self.recorder.finish_failed(session, order_id, outcome)
            mirror_invoice_rows(session, mirrored)
